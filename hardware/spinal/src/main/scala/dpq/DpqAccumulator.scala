package dpq

import spinal.core._

/** Accumulator of one row of the MAC array, split into `parts` carry chains one pipeline stage apart (a
  * carry-save pipeline): part p adds its bits of the sum at stage p, with part p-1's carry registered a
  * stage earlier, so no carry chain is longer than ceil(width / parts) bits (the iCE40 carry chain of a whole
  * accumulator word misses 75 MHz). The sum of a row tile's column tiles appears at the last part's stage:
  * `total` is combinational there.
  *
  * `base` is what each part's next sum adds to; it is cleared one stage ahead (`clear`) when a row tile's
  * first column tile comes next, so no multiplexer sits in front of an adder. Every enabled edge adds: a
  * stage without a tile must bring a zero sum (it then carries nothing either).
  */
case class DpqAccumulator(width: Int, parts: Int) extends Component {
  setDefinitionName("dpq_accumulator")
  require(1 <= parts && parts <= width, s"an accumulator of $width bits cannot have $parts parts")
  private val partBits = width / parts
  private val topBits = width - (parts - 1) * partBits // the last part takes the remainder
  val io = new Bundle {
    val enable = in Bool ()
    val clear = in Bits (parts bits) // bit p: the tile entering part p's stage at the next edge starts a row tile
    val sum = in UInt (width bits) // the row sum of the tile at part 0's stage
    val total = out UInt (width bits) // the accumulated sum of the tile at the last part's stage
  }
  private def delayed[T <: Data](value: T, stages: Int): T =
    (0 until stages).foldLeft(value)((line, _) => RegNextWhen(line, io.enable))

  private var carry: Bool = False // into the part being built, registered at the stage before
  private val totals = for (p <- 0 until parts) yield {
    val low = p * partBits
    val bits = if (p == parts - 1) topBits else partBits
    val later = parts - 1 - p // stages from this part to the last
    val term = delayed(io.sum(low, bits bits), p) // this part's bits, delayed p stages to meet their carry
    val base = Reg(UInt(bits bits)).setName(s"part${p}_base")
    val withCarry = if (later == 0) 0 else 1 // the top part's carry out is dropped (the sum wraps)
    val partTotal = (base.resize(bits + withCarry) + term.resize(bits + withCarry) + carry.asUInt.resize(bits + withCarry))
      .setName(s"part${p}_total")
    when(io.enable) { base := Mux(io.clear(p), U(0, bits bits), partTotal.resize(bits)) }
    if (later > 0) carry = RegNextWhen(partTotal.msb, io.enable).setName(s"part${p + 1}_carry")
    delayed(partTotal.resize(bits), later) // the part's sum, held until the last part's stage
  }
  io.total := totals.map(_.asBits).reverse.reduce(_ ## _).asUInt
}
