package dpq

import spinal.core._

/** One build of the accelerator: the fields of Python's `slimkit.accelerator.ArrayConfig`, same names and ranges. */
case class DpqConfig(
    rows: Int, // output rows per tile (power of two)
    cols: Int, // weights per row consumed per cycle (power of two)
    indexBits: Int, // log2 of the codebook size, 1..8
    codebookBits: Int, // signed fixed-point centroid width
    actBits: Int, // signed fixed-point activation width
    accBits: Int, // accumulator and output width (sums wrap modulo 2^accBits)
    indexDepth: Int, // index memory words (tiles of rows x cols indices)
    columnTiles: Int, // largest columns / cols: words per activation buffer bank
    shapeBits: Int, // width of the rows / columns / vectors ports
    mode: String // "mac": a multiplier per weight; "centroid": centroid accumulation
) {
  private def powerOfTwo(value: Int): Boolean = value >= 1 && (value & (value - 1)) == 0
  require(powerOfTwo(rows) && powerOfTwo(cols), s"rows and cols must be powers of two, got $rows x $cols")
  require(1 <= indexBits && indexBits <= 8, s"index_bits must be in 1..8, got $indexBits")
  require(mode == "mac" || mode == "centroid", s"mode must be mac or centroid, got $mode")
  require(accBits > codebookBits + actBits, "acc_bits must exceed codebook_bits + act_bits")
  require(columnTiles >= 2, s"column_tiles must be at least 2, got $columnTiles")
  require(indexDepth >= 2, s"index_depth must be at least 2, got $indexDepth")
  require(
    shapeBits >= 31 || columnTiles <= (1 << shapeBits),
    s"column_tiles must be at most 2^shape_bits, got $columnTiles"
  )

  def entries: Int = 1 << indexBits
  def lanes: Int = rows * cols
  def indexWordBits: Int = lanes * indexBits
  def indexAddressBits: Int = DpqConfig.clog2(indexDepth)
  def bufferDepth: Int = 2 * columnTiles // two banks: the next vector loads while one is computed
  def bufferAddressBits: Int = DpqConfig.clog2(bufferDepth)
  def tileBits: Int = DpqConfig.clog2(columnTiles) // a column tile's count: a buffer word address
  def rowTileBits: Int = math.min(indexAddressBits, shapeBits) // row tiles never exceed the index memory
  def treeLevels: Int = DpqConfig.clog2(cols)
  def productBits: Int = codebookBits + actBits
  def binBits: Int = actBits + DpqConfig.clog2(columnTiles * cols) // a centroid bin never overflows
}

object DpqConfig {

  /** Verilog's $clog2: ceil(log2(value)), 0 for 1. */
  def clog2(value: Int): Int = if (value <= 1) 0 else 32 - Integer.numberOfLeadingZeros(value - 1)

  /** A configuration from "name=value" fields with ArrayConfig's names (what generate.py writes). */
  def fromFields(fields: Map[String, String]): DpqConfig = {
    def number(name: String): Int = {
      val text = fields.getOrElse(name, throw new IllegalArgumentException(s"missing field $name"))
      text.toIntOption.getOrElse(throw new IllegalArgumentException(s"$name must be an integer, got $text"))
    }
    DpqConfig(
      rows = number("rows"),
      cols = number("cols"),
      indexBits = number("index_bits"),
      codebookBits = number("codebook_bits"),
      actBits = number("act_bits"),
      accBits = number("acc_bits"),
      indexDepth = number("index_depth"),
      columnTiles = number("column_tiles"),
      shapeBits = number("shape_bits"),
      mode = fields.getOrElse("mode", throw new IllegalArgumentException("missing field mode"))
    )
  }

  /** The clock domain of every design here: one clock, synchronous reset active high. */
  val clocking: ClockDomainConfig = ClockDomainConfig(resetKind = SYNC, resetActiveLevel = HIGH)

  /** Builds a component without the reset: memories and datapaths whose registers need none get no rst port. */
  def withoutReset[T](block: => T): T = ClockDomain.current.withoutReset()(block)
}
