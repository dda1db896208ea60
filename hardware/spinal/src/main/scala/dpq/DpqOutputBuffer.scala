package dpq

import spinal.core._

/** Two-entry output FIFO with a registered `room` flag. The array's pipeline advances while `room` is set;
  * because `room` is a register (not a function of outReady) the stall reaches no flip-flop through logic
  * from the output port, and the second entry takes the one result that can still arrive in the cycle after
  * the FIFO filled. A sink that is always ready never stalls the pipeline.
  *
  * Entries shift on a push (slot1 <= slot0 <= pushData) and the oldest is read at slot(count - 1), so both
  * slots load on the one `push` net and a pop only moves the count: no logic from outReady reaches the
  * slots' enables (iCE40 Fmax).
  */
case class DpqOutputBuffer(width: Int) extends Component {
  setDefinitionName("dpq_output_buffer")
  val io = new Bundle {
    val offer = in Bool () // a result is ready: pushed when the pipeline advances (while `room`)
    val pushData = in Bits (width bits)
    val room = out Bool () // a push next cycle fits, whatever the sink does
    val roomNext = out Bool () // what `room` becomes at this edge (for registers that need it early)
    val outValid = out Bool ()
    val outReady = in Bool ()
    val outData = out Bits (width bits)
  }
  val slot0, slot1 = Reg(Bits(width bits))
  val count = Reg(UInt(2 bits)) init (0)
  val room = Reg(Bool()) init (True)
  val push = room && io.offer
  val pop = io.outReady && count =/= 0
  count := count + push.asUInt.resize(2) - pop.asUInt.resize(2)
  // nextCount =/= 2, written with what holds whatever the inputs: a full FIFO has no room (no push), and with
  // one entry it has room (a push whenever offered). So `roomNext` is one LUT of the count's two bits, the
  // offered result's bit and the sink's ready: the shortest loop through `room` and the controller's issue.
  io.roomNext := Mux(count === 2, io.outReady, !(count === 1 && io.offer && !io.outReady))
  room := io.roomNext
  when(push) {
    slot0 := io.pushData
    slot1 := slot0
  }
  io.room := room
  io.outValid := count =/= 0
  io.outData := Mux(count(1), slot1, slot0)
}
