package dpq

import spinal.core._

/** What the top feeds either array (MAC or centroid) and takes from it. */
case class DpqArrayPorts(config: DpqConfig) extends Bundle {
  import config._
  val enable = in Bool () // the pipeline advances
  val codebookWrite = in Bool () // host write port of the codebook
  val codebookAddress = in UInt (indexBits bits)
  val codebookData = in Bits (codebookBits bits)
  // centroid mode only (a MAC array takes a row tile every cycle): a row tile's first column tile is issued
  // now; a new row tile may be issued
  val issueStart = (config.mode == "centroid") generate (in Bool ())
  val startReady = (config.mode == "centroid") generate (out Bool ())
  // one tile, aligned with the memories' read data
  val tileValid, tileFirst, tileLast, tileFinal = in Bool ()
  val indices = in Vec (UInt(indexBits bits), lanes) // (row i, lane j) at i * cols + j
  val activations = in Vec (SInt(actBits bits), cols)
  val resultValid, resultFinal = out Bool ()
  val result = out Vec (UInt(accBits bits), rows) // combinational from the array's last stage
}
