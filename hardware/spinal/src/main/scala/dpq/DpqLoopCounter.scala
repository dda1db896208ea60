package dpq

import spinal.core._

/** Loop counter with a registered "last iteration" flag: counts 0 .. period-1 and wraps to 0 on the step taken
  * at the last. Built for iCE40 Fmax: the count is an up-counter cleared through the flip-flops' synchronous
  * clear, so each bit is one carry-chain LUT packed with its flip-flop, and the comparison with the period is
  * a carry chain whose result is registered where the chain ends, one cycle ahead of its use (`ahead`).
  *
  * @param width    periods up to 2^width
  * @param countOut whether the count is a port (the vector and row-tile loops only need `last`)
  */
case class DpqLoopCounter(width: Int, countOut: Boolean) extends Component {
  setDefinitionName(s"dpq_loop_counter_w$width" + (if (countOut) "" else "_last"))
  val io = new Bundle {
    val load = in Bool () // sample the period; the loop starts from 0 at the next edge
    val periodMinusTwo = in SInt (width + 1 bits) // >= -1; sampled with load
    val tick = in Bool () // an event that may step the counter ...
    val advance = in Bool () // ... and whether it does (kept apart: shallower enables)
    val count = countOut generate (out UInt (width bits)) // this iteration: 0 .. period-1
    val last = out Bool () // this iteration is the loop's last
  }
  // Everything a step reads is a register of this counter, so the placer can keep it in one spot: the
  // period and the restart are registered here rather than taken from the controller's wide nets.
  val restart = RegNext(io.load)
  val single = RegNextWhen(io.periodMinusTwo.msb, io.load) // a period of one: every iteration is the last
  val oneLess = RegNextWhen((~io.periodMinusTwo).resize(width + 2).asUInt + 2, io.load) // 1 - (period - 2)
  val pair = RegNextWhen(oneLess === 1, restart) // a period of two: iteration 0 is the penultimate
  val count = Reg(UInt(width bits))
  val last = Reg(Bool())
  val step = io.tick && io.advance

  // `penultimate` (count == period - 2: a step that does not wrap lands on the last iteration) as of this
  // cycle, from registers of the last cycle: the count then was the same (no step), one less (a step) or
  // anything (a clear, after which it is 0: penultimate only for a period of two). Only used while this
  // iteration is not the last, where count <= period - 2.
  // `ahead` is count + 1 >= period - 2 for the count of the last cycle, registered at its carry chain's end.
  val ahead, wasPenultimate, stepped, cleared = Reg(Bool())
  val penultimate = Mux(cleared, pair, Mux(stepped, ahead, wasPenultimate))
  ahead := !(count.resize(width + 2) + oneLess).msb
  wasPenultimate := penultimate
  stepped := step && !restart && !last
  cleared := restart || (step && last)
  when(restart || step) {
    count := Mux(restart || last, U(0, width bits), count + 1)
    // after a wrap (or a restart) the first iteration is the last only for a period of one
    last := Mux(restart || last, single, penultimate)
  }
  if (countOut) io.count := count
  io.last := last
}
