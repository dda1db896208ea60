package dpq

import spinal.core._

/** Centroid-accumulation array (centroid mode): instead of one multiplier per weight, each row adds the
  * activations that share a cluster index into one bin per codebook entry, then multiplies each bin by its
  * centroid once: rows multipliers in all instead of rows * cols, for rows * entries bins of adders.
  *
  * Two bin banks: a row tile accumulates into one while the previous row tile's bins drain through the
  * multiplier, one entry per cycle (entries cycles). A bank is claimed when its row tile's first column tile
  * is issued and released when its last bin has been read; `startReady` tells the controller whether a new
  * row tile may be issued (fewer than two banks claimed).
  *
  * Accumulation: register (indices, activations) -> add into the bins.
  * Drain: register (bin, centroid) -> multiply -> accumulate; `result` is combinational from the last.
  */
case class DpqCentroidArray(config: DpqConfig) extends Component {
  setDefinitionName("dpq_centroid_array")
  import config._
  val io = DpqArrayPorts(config)
  private val drainProductBits = binBits + codebookBits
  // what one cycle adds to a bin: at most cols activations (adders this wide, not binBits: Yosys cannot tell
  // that the sign-extended high bits of wider adders are copies)
  private val incrementBits = actBits + DpqConfig.clog2(cols)

  // bank bookkeeping: a full bank stays full while it drains
  val claimed = Reg(UInt(2 bits)) init (0) // banks claimed: 0..2
  val fillBank = Reg(Bool()) init (False) // the bank the accumulation stage writes
  val drainBank = Reg(Bool()) init (False) // the bank drained next (or now)
  val bankFull = Reg(Bits(2 bits)) init (0)
  val bankFinal = Reg(Bits(2 bits)) // holds the layer's last row tile
  val entry = Reg(UInt(indexBits bits)) init (0) // the bin being read
  val drainRead = io.enable && bankFull(drainBank.asUInt)
  val drainDone = drainRead && entry === entries - 1
  io.startReady := claimed =/= 2

  // accumulation stage registers
  val accValid = RegNextWhen(io.tileValid, io.enable) init (False)
  val accFirst = RegNextWhen(io.tileFirst, io.enable)
  val accLast = RegNextWhen(io.tileLast, io.enable)
  val accFinal = RegNextWhen(io.tileFinal, io.enable)
  val accIndices = RegNextWhen(io.indices, io.enable)
  val accActivations = RegNextWhen(io.activations, io.enable)
  val bankComplete = io.enable && accValid && accLast

  claimed := claimed + (io.enable && io.issueStart).asUInt.resize(2) - drainDone.asUInt.resize(2)
  when(bankComplete) {
    fillBank := !fillBank
    bankFinal(fillBank.asUInt) := accFinal
  }
  for (b <- 0 until 2) {
    val fills = bankComplete && fillBank === Bool(b == 1)
    val drains = drainDone && drainBank === Bool(b == 1)
    bankFull(b) := (bankFull(b) || fills) && !drains
  }
  when(drainDone) { drainBank := !drainBank }
  when(drainRead) { entry := entry + 1 } // wraps to 0 after the last entry

  // drain control through the (bin, centroid) register and the multiply; a row tile's sums are complete after
  // its last bin (valid and last: one bit at the multiply stage, see DpqOutputBuffer)
  case class Drain() extends Bundle { val valid, first, isFinal = Bool() }
  val drainSelect = Reg(Drain()) init (Drain().getZero)
  val drainSelectLast = Reg(Bool()) init (False)
  val drainMultiply = Reg(Drain()) init (Drain().getZero)
  val resultValid = Reg(Bool()) init (False)
  when(io.enable) {
    drainSelect.valid := drainRead
    drainSelect.first := entry === 0
    drainSelect.isFinal := bankFinal(drainBank.asUInt)
    drainSelectLast := entry === entries - 1
    drainMultiply := drainSelect
    resultValid := drainSelect.valid && drainSelectLast
  }
  io.resultValid := resultValid
  io.resultFinal := drainMultiply.isFinal

  val centroids = DpqConfig.withoutReset(DpqCodebook(indexBits, codebookBits, 1))
  centroids.io.writeEnable := io.codebookWrite
  centroids.io.writeAddress := io.codebookAddress
  centroids.io.writeData := io.codebookData
  centroids.io.readEnable := io.enable
  centroids.io.readIndices(0) := entry
  val centroid = centroids.io.readValues(0).asSInt

  for (i <- 0 until rows) {
    // bin (bank b, entry k): the activations of this row whose index is k, summed. Each bank builds its own
    // adder tree on purpose: Yosys merges the two for iCE40 (10936 LUTs, shared 10935; up5k_centroid_2x4), and
    // for Xilinx one tree shared by both banks maps to more LUTs (7659 vs 7564; centroid_8x8 53790 vs 53428)
    val bins = for (b <- 0 until 2; k <- 0 until entries) yield {
      val increment = (0 until cols)
        .map { j =>
          val matches = accIndices(i * cols + j) === k
          Mux(matches, accActivations(j).resize(incrementBits), S(0, incrementBits bits))
        }
        .reduce(_ + _)
      val value = Reg(SInt(binBits bits)).setName(s"row${i}_bank${b}_bin$k")
      when(io.enable && accValid && fillBank === Bool(b == 1)) {
        value := Mux(accFirst, S(0, binBits bits), value) + increment.resize(binBits)
      }
      value
    }
    // drain: one bin per cycle through one multiplier
    val binValue = RegNextWhen(Vec(bins)((drainBank ## entry).asUInt), io.enable).setName(s"row${i}_bin_value")
    val fullProduct = binValue * centroid // drainProductBits wide
    val wrapped = if (accBits <= drainProductBits) fullProduct(accBits - 1 downto 0).asUInt
    else fullProduct.resize(accBits).asUInt // modulo 2^accBits, like the sums after it
    val product = RegNextWhen(wrapped, io.enable).setName(s"row${i}_product")
    val sum = Reg(UInt(accBits bits)).setName(s"row${i}_sum")
    val total = Mux(drainMultiply.first, U(0, accBits bits), sum) + product
    when(io.enable && drainMultiply.valid) { sum := total }
    io.result(i) := total
  }
}
