package dpq

import spinal.core._

/** rows x cols multiply-accumulate array (MAC mode). Per enabled cycle it takes one index word (rows * cols
  * cluster indices) and one activation word (cols activations), turns each index into its centroid at the
  * edge of the array (a codebook RAM copy per lane), multiplies, sums each row with a pipelined adder tree and
  * accumulates over the column tiles of a row tile.
  *
  * Pipeline (every register advances only while `enable`): index register -> codebook read -> multiply ->
  * log2(cols) tree levels -> row sum register -> three accumulator parts (DpqAccumulator). Each stage is at
  * most one short carry chain or two LUT levels deep (iCE40 UP5K at 75 MHz).
  */
case class DpqMacArray(config: DpqConfig) extends Component {
  setDefinitionName("dpq_mac_array")
  import config._
  val io = DpqArrayPorts(config)
  // a row's sum of cols products needs treeLevels more bits than a product (wrapping like the accumulator)
  private val sumBits = math.min(productBits + treeLevels, accBits)
  private val depth = 4 + treeLevels // index register, lookup, multiply, tree levels, row sum register
  private val accParts = 3 // accumulator carry chains (DpqAccumulator); accBits >= 3 always
  private val stages = depth + accParts - 1 // the accumulator's first part works on the row sum register

  // control travels beside the data as register bits: per stage `sums` (a row tile's last column tile: its sums
  // are complete at the last stage; one bit, so the output buffer's room flag is one LUT of it) and `final`
  // (the layer's last), and up to the last accumulator part's clear `starts` (a row tile's first column tile:
  // the accumulators' clears are flip-flop outputs); `valid` only at the first stage (the lookup)
  case class Control() extends Bundle { val sums, isFinal = Bool() }
  val control = Vec.fill(stages)(Reg(Control()) init (Control().getZero))
  val starts = Vec.fill(depth + accParts - 2)(Reg(Bool()) init (False))
  val lookupValid = RegNextWhen(io.tileValid, io.enable) init (False)
  when(io.enable) {
    control(0).sums := io.tileValid && io.tileLast
    control(0).isFinal := io.tileFinal
    for (s <- 1 until stages) control(s) := control(s - 1)
    starts(0) := io.tileValid && io.tileFirst
    for (s <- 1 until starts.length) starts(s) := starts(s - 1)
  }
  // accumulator part p works at stage depth-1+p; it clears when the stage before holds a row tile's start
  private val partClear = Vec((0 until accParts).map(p => starts(depth - 2 + p))).asBits
  io.resultValid := control(stages - 1).sums
  io.resultFinal := control(stages - 1).isFinal

  val indicesR = RegNextWhen(io.indices, io.enable)
  val activationsR = RegNextWhen(io.activations, io.enable)

  // lookup stage: the centroid per (row, lane) from the lane's codebook copy, the activation per lane; a
  // bubble (no tile) multiplies zeros, so its row sum is 0 and the accumulators add every stage without a
  // per-stage enable (no LUT in front of their clock enables)
  val centroids = DpqConfig.withoutReset(DpqCodebook(indexBits, codebookBits, lanes))
  centroids.io.writeEnable := io.codebookWrite
  centroids.io.writeAddress := io.codebookAddress
  centroids.io.writeData := io.codebookData
  centroids.io.readEnable := io.enable
  centroids.io.readIndices := indicesR
  val laneActivations = Reg(Vec(SInt(actBits bits), cols))
  when(io.enable) {
    for (j <- 0 until cols) laneActivations(j) := Mux(lookupValid, activationsR(j), S(0, actBits bits))
  }

  for (i <- 0 until rows) {
    val products = Vec((0 until cols).map { j =>
      val weight = centroids.io.readValues(i * cols + j).asSInt
      RegNextWhen(weight * laneActivations(j), io.enable).setName(s"row${i}_product$j")
    })
    val treeSum = if (cols == 1) products(0).resize(sumBits) else {
      val tree = DpqConfig.withoutReset(DpqAdderTree(cols, productBits, sumBits)).setName(s"row${i}_tree")
      tree.io.enable := io.enable
      tree.io.terms := products
      tree.io.sum
    }
    // the row's sum registered once more beside its accumulator: the tree sits by the multipliers (DSPs at
    // the die's edges), so this hop is routing only and the accumulator's chain starts from a near register
    val rowSum = RegNextWhen(treeSum.resize(accBits).asUInt, io.enable).setName(s"row${i}_sum")
    val accumulator = DpqConfig.withoutReset(DpqAccumulator(accBits, accParts)).setName(s"row${i}_accumulator")
    accumulator.io.enable := io.enable
    accumulator.io.clear := partClear
    accumulator.io.sum := rowSum
    io.result(i) := accumulator.io.total
  }
}
