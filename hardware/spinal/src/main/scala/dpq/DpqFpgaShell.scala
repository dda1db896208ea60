package dpq

import spinal.core._

/** Place-and-route wrapper of DpqAccel for a small FPGA package: the accelerator's wide ports would need
  * hundreds of pins, so every input comes from a serially loaded register and every output is captured in a
  * register that is read back a byte at a time by shifting it. Only used to measure post-route Fmax and fit
  * (hardware/scripts/synth.py); the shell adds registers and one LUT level in front of each, so its own
  * paths stay shorter than the accelerator's (a byte multiplexer on the output was the critical path of some
  * placer seeds).
  */
case class DpqFpgaShell(config: DpqConfig) extends Component {
  setDefinitionName("dpq_fpga_shell")
  import config._
  val io = new Bundle {
    val clk = in Bool ()
    val rst = in Bool ()
    val serial_in = in Bool () // shifted into the input register while shift is high
    val shift = in Bool ()
    val unload = in Bool () // shift the output register down a byte per cycle; low: capture the outputs
    val probe = out Bits (8 bits)
  }
  noIoPrefix()

  val logic = new ClockingArea(ClockDomain(io.clk, config = DpqConfig.clocking)) {
    val accelerator = DpqAccel(config)
    val port = accelerator.io
    // the serial input register, field by field from bit 0: five strobes, then the data ports
    val fields = Seq(
      port.start, port.in_valid, port.out_ready, port.codebook_write, port.index_write, port.codebook_address,
      port.codebook_data, port.index_address, port.index_data, port.rows, port.columns, port.vectors, port.in_data
    )
    val inputBits = fields.map(_.getBitsWidth).sum
    val chain = Reg(Bits(inputBits bits))
    val inputs = Reg(Bits(inputBits bits))
    when(io.shift) { chain := chain(inputBits - 2 downto 0) ## io.serial_in }
    // applied once shifting stops; the five strobes (start, in_valid, out_ready, writes) held low meanwhile
    inputs := Mux(io.shift, chain(inputBits - 1 downto 5) ## B(0, 5 bits), chain)
    var at = 0
    for (field <- fields) {
      field.assignFromBits(inputs(at, field.getBitsWidth bits))
      at += field.getBitsWidth
    }
    port.clk := ClockDomain.current.readClockWire
    port.rst := RegNext(io.rst)

    val observed = port.out_data ## port.out_last ## port.out_valid ## port.in_ready ## port.done ## port.busy
    val outputBits = 8 * DpqFpgaShell.outputBytes(config)
    val outputs = Reg(Bits(outputBits bits))
    outputs := Mux(io.unload, outputs(outputBits - 1 downto 8).resize(outputBits), observed.resize(outputBits))
    io.probe := outputs(7 downto 0)
  }
}

object DpqFpgaShell {
  /** Bytes of the shell's output register: the five status bits and the result beat. */
  def outputBytes(config: DpqConfig): Int = (5 + config.rows * config.accBits + 7) / 8
}
