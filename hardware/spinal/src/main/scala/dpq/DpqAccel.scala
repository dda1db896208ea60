package dpq

import spinal.core._

/** DP-quantized layer accelerator (top). Computes, for one layer,
  *     out[v][r] = sum over c of codebook[index[r][c]] * act[v][c]
  * with weights stored as cluster indices (indexBits each) and a per-layer codebook. The host writes the
  * codebook and the index memory, sets the shape, pulses `start`, streams activation vectors in (cols per
  * beat) and takes results out (rows rows of one vector per beat); `done` rises when the last result has
  * been taken. Ports and memory layout: hardware/README.md (the cocotb testbenches are the specification).
  */
case class DpqAccel(config: DpqConfig) extends Component {
  setDefinitionName("dpq_accel")
  import config._
  val io = new Bundle {
    val clk = in Bool ()
    val rst = in Bool () // synchronous, active high
    // host writes, while not busy
    val codebook_write = in Bool ()
    val codebook_address = in UInt (indexBits bits)
    val codebook_data = in Bits (codebookBits bits)
    val index_write = in Bool ()
    val index_address = in UInt (indexAddressBits bits) // tile (rt, ct) at rt * ceil(columns/cols) + ct
    val index_data = in Bits (indexWordBits bits) // index [rt*rows+i][ct*cols+j] at bits (i*cols+j)*indexBits
    // layer
    val rows = in UInt (shapeBits bits)
    val columns = in UInt (shapeBits bits)
    val vectors = in UInt (shapeBits bits)
    val start = in Bool ()
    val busy = out Bool ()
    val done = out Bool ()
    // activations: vector by vector, cols columns per beat (column ct*cols + j in lane j)
    val in_valid = in Bool ()
    val in_ready = out Bool ()
    val in_data = in Bits (cols * actBits bits)
    // results: vector by vector, row tile by row tile (row rt*rows + i in lane i)
    val out_valid = out Bool ()
    val out_ready = in Bool ()
    val out_data = out Bits (config.rows * accBits bits)
    val out_last = out Bool ()
  }
  noIoPrefix()

  val logic = new ClockingArea(ClockDomain(io.clk, io.rst, config = DpqConfig.clocking)) {
    val controller = DpqController(config)
    val results = DpqOutputBuffer(rows * accBits + 1)
    // the whole pipeline advances while the output buffer has room (a register: see DpqOutputBuffer)
    val enable = results.io.room

    // the final result left the accelerator, registered: `done` and the controller's `running` follow one
    // cycle later from a flip-flop rather than from the output handshake's logic (iCE40 Fmax)
    val finished = RegNext(io.out_valid && io.out_ready && io.out_last) init (False)

    controller.io.start := io.start
    controller.io.rows := io.rows
    controller.io.columns := io.columns
    controller.io.vectors := io.vectors
    controller.io.inValid := io.in_valid
    controller.io.inData.assignFromBits(io.in_data)
    controller.io.enableNext := results.io.roomNext
    controller.io.finished := finished
    io.in_ready := controller.io.inReady
    io.busy := controller.io.running

    val indexMemory = DpqConfig.withoutReset(DpqRam(indexWordBits, indexDepth))
    indexMemory.io.writeEnable := io.index_write
    indexMemory.io.writeAddress := io.index_address
    indexMemory.io.writeData := io.index_data
    indexMemory.io.readEnable := enable
    indexMemory.io.readAddress := controller.io.indexReadAddress

    val activationBuffer = DpqConfig.withoutReset(DpqRam(cols * actBits, bufferDepth))
    activationBuffer.io.writeEnable := controller.io.bufferWrite
    activationBuffer.io.writeAddress := controller.io.bufferWriteAddress
    activationBuffer.io.writeData := controller.io.bufferWriteData.asBits
    activationBuffer.io.readEnable := enable
    activationBuffer.io.readAddress := controller.io.bufferReadAddress

    // the tile's control, registered with the memories' read data
    val tileValid = RegNextWhen(controller.io.issue, enable) init (False)
    val tileFirst = RegNextWhen(controller.io.issueFirst, enable)
    val tileLast = RegNextWhen(controller.io.issueLast, enable)
    val tileFinal = RegNextWhen(controller.io.issueFinal, enable)

    val array = if (mode == "mac") DpqMacArray(config).io else DpqCentroidArray(config).io
    array.enable := enable
    array.codebookWrite := io.codebook_write
    array.codebookAddress := io.codebook_address
    array.codebookData := io.codebook_data
    array.tileValid := tileValid
    array.tileFirst := tileFirst
    array.tileLast := tileLast
    array.tileFinal := tileFinal
    array.indices.assignFromBits(indexMemory.io.readData)
    array.activations.assignFromBits(activationBuffer.io.readData)
    if (mode == "mac") controller.io.startReady := True // a MAC array takes a row tile every cycle
    else {
      array.issueStart := controller.io.issue && controller.io.issueFirst
      controller.io.startReady := array.startReady
    }

    results.io.offer := array.resultValid
    results.io.pushData := array.resultFinal ## array.result.asBits
    results.io.outReady := io.out_ready
    io.out_valid := results.io.outValid
    io.out_last := results.io.outData.msb
    io.out_data := results.io.outData(rows * accBits - 1 downto 0)

    // `done`: a layer has run and none is running. `running` rises at the edge that samples start and falls
    // at the edge after the final result left, so `done` needs no flip-flop of its own and no logic from the
    // start and output handshakes in front of one (iCE40 Fmax).
    val hasRun = Reg(Bool()) init (False)
    when(io.start) { hasRun := True }
    io.done := hasRun && !controller.io.running
  }
}
