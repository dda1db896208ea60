package dpq

import scala.io.Source
import scala.util.control.NonFatal
import spinal.core._

/** Writes the Verilog of every design a manifest lists, one line per design:
  *     out=<directory> top=<dpq_accel|dpq_fpga_shell> rows=4 cols=4 index_bits=5 ... mode=mac
  * (ArrayConfig's field names). Each directory is emptied first and gets one file per module. A bad line stops
  * with one "error:" line naming it and exit status 2.
  */
object Generate {
  def main(args: Array[String]): Unit = {
    if (args.length != 1) fail("usage: dpq.Generate <manifest>")
    val lines = Source.fromFile(args(0)).getLines().map(_.trim).filter(_.nonEmpty).toList
    for (line <- lines) {
      val fields = line.split("\\s+").map { field =>
        field.split("=", 2) match {
          case Array(key, value) => key -> value
          case _                 => fail(s"manifest field '$field' is not name=value in: $line")
        }
      }.toMap
      val out = new java.io.File(fields.getOrElse("out", fail(s"no out= in: $line")))
      val config = try DpqConfig.fromFields(fields)
      catch { case NonFatal(error) => fail(s"${error.getMessage.stripPrefix("requirement failed: ")} in: $line") }
      val top: () => Component = fields.get("top") match {
        case Some("dpq_accel")      => () => DpqAccel(config)
        case Some("dpq_fpga_shell") => () => DpqFpgaShell(config)
        case other                  => fail(s"top must be dpq_accel or dpq_fpga_shell, got ${other.getOrElse("nothing")} in: $line")
      }
      clear(out)
      SpinalConfig(
        targetDirectory = out.getPath,
        oneFilePerComponent = true,
        headerWithDate = false,
        headerWithRepoHash = false
      ).generateVerilog(top())
    }
  }

  private def clear(directory: java.io.File): Unit = {
    directory.mkdirs()
    Option(directory.listFiles()).getOrElse(Array.empty).filter(_.isFile).foreach(_.delete())
  }

  private def fail(message: String): Nothing = {
    System.err.println(s"error: $message")
    sys.exit(2)
  }
}
