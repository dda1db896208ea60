package dpq

import spinal.core._

/** Simple dual-port RAM: one write port, one registered read port (infers block RAM). The read register
  * holds while readEnable is low, so a stalled pipeline keeps its data.
  */
case class DpqRam(width: Int, depth: Int) extends Component {
  setDefinitionName(s"dpq_ram_${width}x$depth")
  private val addressBits = DpqConfig.clog2(depth)
  val io = new Bundle {
    val writeEnable = in Bool ()
    val writeAddress = in UInt (addressBits bits)
    val writeData = in Bits (width bits)
    val readEnable = in Bool ()
    val readAddress = in UInt (addressBits bits)
    val readData = out Bits (width bits)
  }
  val words = Mem(Bits(width bits), depth)
  words.write(io.writeAddress, io.writeData, io.writeEnable)
  io.readData := words.readSync(io.readAddress, io.readEnable)
}
