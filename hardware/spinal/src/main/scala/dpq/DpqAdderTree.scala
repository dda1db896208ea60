package dpq

import spinal.core._

/** Pipelined binary adder tree: sums `inputs` signed words (a power of two, at least 2) with one register per
  * level, so the sum of the terms presented at one enabled edge appears log2(inputs) enabled edges later.
  * Each level's adders are only one bit wider than their terms (capped at sumWidth, where sums wrap modulo
  * 2^sumWidth like the accumulator behind): short carry chains (iCE40 Fmax).
  */
case class DpqAdderTree(inputs: Int, width: Int, sumWidth: Int) extends Component {
  setDefinitionName("dpq_adder_tree")
  require(inputs >= 2 && (inputs & (inputs - 1)) == 0, s"an adder tree needs a power of two >= 2 terms, got $inputs")
  private val levels = DpqConfig.clog2(inputs)
  val io = new Bundle {
    val enable = in Bool ()
    val terms = in Vec (SInt(width bits), inputs)
    val sum = out SInt (sumWidth bits)
  }
  // heap layout: node n has children 2n+1 and 2n+2; the leaves are nodes inputs-1 .. 2*inputs-2. A node at
  // depth d below the root sums 2^(levels-d) terms: width + levels - d bits (at most sumWidth).
  private val node = new Array[SInt](2 * inputs - 1)
  for (leaf <- 0 until inputs) node(inputs - 1 + leaf) = io.terms(leaf)
  for (n <- inputs - 2 to 0 by -1) {
    val depth = DpqConfig.clog2(n + 2) - 1
    val bits = math.min(width + levels - depth, sumWidth)
    val left = node(2 * n + 1).resize(bits)
    val right = node(2 * n + 2).resize(bits)
    node(n) = RegNextWhen(left + right, io.enable).setName(s"partial$n")
  }
  io.sum := node(0).resize(sumWidth)
}
