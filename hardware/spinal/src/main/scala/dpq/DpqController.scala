package dpq

import spinal.core._

/** Sequencer of one layer: loads activation vectors from the input stream into a two-bank buffer (the next
  * vector loads while the current one is computed) and issues, for every vector, every (row tile, column
  * tile) pair in order: one index word and one activation word per cycle.
  *
  * Loop order: for v in vectors, for rt in row tiles, for ct in column tiles. The index memory word of tile
  * (rt, ct) is at rt * column_tiles + ct, so the read address is a counter that restarts with every vector.
  * Columns past `columns` in the last column tile are written as zero activations, which makes whatever
  * index sits there harmless.
  */
case class DpqController(config: DpqConfig) extends Component {
  setDefinitionName("dpq_controller")
  import config._
  private val rowShift = DpqConfig.clog2(rows)
  private val colShift = DpqConfig.clog2(cols)

  val io = new Bundle {
    val start = in Bool () // the layer shape is sampled with start while not running
    val rows, columns, vectors = in UInt (shapeBits bits)
    val running = out Bool ()
    val inValid = in Bool ()
    val inReady = out Bool () // a register: no path from inValid
    val inData = in Vec (Bits(actBits bits), cols)
    val bufferWrite = out Bool ()
    val bufferWriteAddress = out UInt (bufferAddressBits bits)
    val bufferWriteData = out Vec (Bits(actBits bits), cols)
    val enableNext = in Bool () // the pipeline's enable as of the next cycle
    val startReady = in Bool () // the array takes a new row tile (first column tile)
    val indexReadAddress = out UInt (indexAddressBits bits)
    val bufferReadAddress = out UInt (bufferAddressBits bits)
    val issue = out Bool ()
    val issueFirst = out Bool () // first column tile: the accumulators restart
    val issueLast = out Bool () // last column tile: the row tile's sums are done
    val issueFinal = out Bool () // last tile of the layer
    val finished = in Bool () // the final result left the accelerator
  }

  // Start-up in register hops, whatever the placer does with the wide nets: the edge that samples start
  // registers the loop bounds, the next (`prepare`) loads them into the loop counters, the one after
  // (`launch`) starts the counters and clears the controller's state; `launch` never meets an issue or a
  // load beat. Bounds are "count - 2" (-1 for a single iteration): what DpqLoopCounter loads, with
  // ceil(n / P) - 2 = floor((n - 1 - P) / P), an arithmetic shift of one subtraction.
  val running = Reg(Bool()) init (False)
  val prepare = Reg(Bool()) init (False)
  val launch = Reg(Bool()) init (False)
  prepare := !running && io.start
  launch := prepare
  when(!running) { running := io.start } elsewhen (io.finished) { running := False }

  private def tilesLessTwo(size: UInt, perTile: Int, shift: Int, bits: Int): SInt = {
    val pastFirstTile = size.resize(shapeBits + 1).asSInt - S(perTile + 1, shapeBits + 1 bits)
    pastFirstTile.resize(shapeBits + 1 + shift)(shift + bits downto shift) // an arithmetic shift by `shift`
  }
  val sampleBounds = !running && io.start
  val rowTilesMinusTwo = RegNextWhen(tilesLessTwo(io.rows, rows, rowShift, rowTileBits), sampleBounds)
  val columnTilesMinusTwo = RegNextWhen(tilesLessTwo(io.columns, cols, colShift, tileBits), sampleBounds)
  val vectorsMinusTwo = RegNextWhen(io.vectors.resize(shapeBits + 1).asSInt - 2, sampleBounds)

  val loading = Reg(Bool()) init (False)
  val loadBank = Reg(Bool())
  val issuing = Reg(Bool()) init (False)
  val issueGo = Reg(Bool()) init (False) // issuing, the issue bank full and enable, as a register
  val issueFirst = Reg(Bool())
  val issueBank = Reg(Bool())
  val indexAddress = Reg(UInt(indexAddressBits bits))
  val inReady = Reg(Bool()) init (False)

  val loadBeat = io.inValid && inReady
  val issue = issueGo && (!issueFirst || io.startReady)

  private def counter(width: Int, countOut: Boolean, period: SInt, tick: Bool, advance: Bool): DpqLoopCounter = {
    val loop = DpqConfig.withoutReset(DpqLoopCounter(width, countOut))
    loop.io.load := prepare
    loop.io.periodMinusTwo := period
    loop.io.tick := tick
    loop.io.advance := advance
    loop
  }
  val loadTiles = counter(tileBits, countOut = true, columnTilesMinusTwo, loadBeat, True)
  val loadVectors = counter(shapeBits, countOut = false, vectorsMinusTwo, loadBeat, loadTiles.io.last)
  val issueTiles = counter(tileBits, countOut = true, columnTilesMinusTwo, issue, True)
  val issueLast = issueTiles.io.last
  val issueRowTiles = counter(rowTileBits, countOut = false, rowTilesMinusTwo, issue, issueLast)
  val rowTileLast = issueRowTiles.io.last
  val issueVectors = counter(shapeBits, countOut = false, vectorsMinusTwo, issue, issueLast && rowTileLast)
  val issueVectorLast = issueVectors.io.last

  val loadDone = loadBeat && loadTiles.io.last
  val rowTileDone = issue && issueLast
  val vectorDone = rowTileDone && rowTileLast

  // zero the lanes past the last column (only the last column tile has any); lane 0 always holds a column
  val columnsMinusOne = (cols > 1) generate RegNextWhen((io.columns - 1).resize(colShift), sampleBounds)
  for (lane <- 0 until cols) {
    val inLayer = if (lane == 0) True else {
      val lastTileLane = Reg(Bool()).setName(s"last_tile_lane$lane")
      when(launch) { lastTileLane := columnsMinusOne >= lane }
      !loadTiles.io.last || lastTileLane
    }
    io.bufferWriteData(lane) := Mux(inLayer, io.inData(lane), B(0, actBits bits))
  }
  io.bufferWrite := loadBeat
  io.bufferWriteAddress := (loadBank ## loadTiles.io.count).asUInt

  // Banks fill and empty in order (the loader writes the bank after the one it filled last, the issuer reads
  // the bank after the one it emptied last), so the state is how many are full: `anyFull` (the issuer's bank
  // is full) and `bothFull` (the loader's is too). A bank fills on its last beat and empties when its
  // vector's last tile is issued. Two flags, not per-bank bits indexed by a bank register: one LUT level
  // less in front of issueGo and inReady (iCE40 Fmax).
  val anyFull = Reg(Bool()) init (False)
  val bothFull = Reg(Bool()) init (False)
  val nextAnyFull = !launch && (bothFull || loadDone || (anyFull && !vectorDone))
  val nextBothFull = !launch && !vectorDone && (bothFull || (anyFull && loadDone))
  val nextIssuing = launch || (issuing && !(vectorDone && issueVectorLast))
  val nextLoading = launch || (loading && !(loadDone && loadVectors.io.last))
  anyFull := nextAnyFull
  bothFull := nextBothFull
  issuing := nextIssuing
  issueGo := nextIssuing && nextAnyFull && io.enableNext
  inReady := nextLoading && !nextBothFull
  loading := nextLoading

  when(launch) { loadBank := False } elsewhen (loadDone) { loadBank := !loadBank }
  when(launch) {
    issueFirst := True
    issueBank := False
  } elsewhen (issue) {
    issueFirst := issueLast
    issueBank := issueBank ^ vectorDone
  }
  // the index address restarts with every vector: a clear, not a multiplexer (iCE40 Fmax)
  when(launch || issue) {
    indexAddress := Mux(launch || (issueLast && rowTileLast), U(0, indexAddressBits bits), indexAddress + 1)
  }

  io.running := running
  io.inReady := inReady
  io.indexReadAddress := indexAddress
  io.bufferReadAddress := (issueBank ## issueTiles.io.count).asUInt
  io.issue := issue
  io.issueFirst := issueFirst
  io.issueLast := issueLast
  io.issueFinal := issueLast && rowTileLast && issueVectorLast
}
