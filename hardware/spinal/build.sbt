// The accelerator in SpinalHDL: `runMain dpq.Generate <manifest>` writes the Verilog of every configuration
// the manifest lists (hardware/scripts/generate.py writes the manifest and runs this; `make hw-gen`).
ThisBuild / scalaVersion := "2.13.14"

val spinalVersion = "1.14.2"

lazy val root = (project in file("."))
  .settings(
    name := "dpq-accel",
    libraryDependencies ++= Seq(
      "com.github.spinalhdl" %% "spinalhdl-core" % spinalVersion,
      "com.github.spinalhdl" %% "spinalhdl-lib" % spinalVersion,
      compilerPlugin("com.github.spinalhdl" %% "spinalhdl-idsl-plugin" % spinalVersion)
    ),
    scalacOptions ++= Seq("-deprecation", "-feature"),
    Compile / run / fork := false
  )
