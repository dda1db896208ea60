package dpq

import spinal.core._

/** The layer's codebook: 2^indexBits signed centroids written by the host before a layer runs, with one
  * synchronous read port per lane of the array. A copy per lane: each copy is one block RAM on iCE40 (a few
  * LUT RAMs on Xilinx) and the lookup costs no logic between the index memory and the multipliers. Entries
  * the host did not write read as undefined: centroid mode reads every entry, so the host writes them all.
  */
case class DpqCodebook(indexBits: Int, codebookBits: Int, lanes: Int) extends Component {
  setDefinitionName(s"dpq_codebook_x$lanes")
  val io = new Bundle {
    val writeEnable = in Bool ()
    val writeAddress = in UInt (indexBits bits)
    val writeData = in Bits (codebookBits bits)
    val readEnable = in Bool () // holds the read registers while low
    val readIndices = in Vec (UInt(indexBits bits), lanes)
    val readValues = out Vec (Bits(codebookBits bits), lanes)
  }
  for (lane <- 0 until lanes) {
    val entries = Mem(Bits(codebookBits bits), 1 << indexBits).setName(s"lane${lane}_entries")
    entries.addAttribute("ram_style", "block")
    entries.write(io.writeAddress, io.writeData, io.writeEnable)
    io.readValues(lane) := entries.readSync(io.readIndices(lane), io.readEnable)
  }
}
