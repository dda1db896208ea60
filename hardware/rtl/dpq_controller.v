// Sequencer of one layer: loads activation vectors from the input stream into a two-bank buffer
// (the next vector loads while the current one is computed) and issues, for every vector, every
// (row tile, column tile) pair in order: one index word and one activation word per cycle.
//
// Loop order: for v in vectors, for rt in row tiles, for ct in column tiles. The index memory
// word of tile (rt, ct) is at rt * column_tiles + ct, so the read address is a counter that
// restarts with every vector. Columns beyond `columns` in the last column tile are written as
// zero activations, which makes whatever index sits there harmless.
`default_nettype none

module dpq_controller #(
    parameter ROWS         = 4,     // output rows per tile (power of two)
    parameter COLS         = 4,     // columns per tile (power of two)
    parameter ACT_BITS     = 8,
    parameter SHAPE_BITS   = 16,    // width of the rows / columns / vectors inputs
    parameter INDEX_DEPTH  = 1024,  // words of the index memory (row tiles * column tiles of the largest layer)
    parameter COLUMN_TILES = 64     // largest number of column tiles (activation buffer words per bank)
) (
    input  wire                             clk,
    input  wire                             rst,
    // layer shape, sampled at start
    input  wire                             start,
    input  wire [SHAPE_BITS-1:0]            rows,
    input  wire [SHAPE_BITS-1:0]            columns,
    input  wire [SHAPE_BITS-1:0]            vectors,
    output reg                              running,
    // activation stream in (COLS words per beat, column ct*COLS + j in lane j)
    input  wire                             in_valid,
    output reg                              in_ready,  // a register: no path from in_valid
    input  wire [COLS*ACT_BITS-1:0]         in_data,
    // activation buffer write port
    output wire                             buffer_write,
    output wire [$clog2(2*COLUMN_TILES)-1:0] buffer_write_address,
    output wire [COLS*ACT_BITS-1:0]         buffer_write_data,
    // issue: read addresses and the tile's control, while the pipeline is not stalled next cycle
    input  wire                             enable_next,  // the pipeline's enable as of the next cycle
    input  wire                             start_ready,  // the array takes a new row tile (first column tile)
    output wire [$clog2(INDEX_DEPTH)-1:0]   index_read_address,
    output wire [$clog2(2*COLUMN_TILES)-1:0] buffer_read_address,
    output wire                             issue,
    output wire                             issue_first,  // first column tile: the accumulators restart
    output wire                             issue_last,   // last column tile: the row tile's sums are done
    output wire                             issue_final,  // last tile of the layer
    input  wire                             finished      // the final result left the accelerator
);
    localparam ROW_SHIFT = $clog2(ROWS);
    localparam COL_SHIFT = $clog2(COLS);

    // Loop ends come from registered flags (dpq_loop_counter) so that the issue condition, which enables
    // most of the controller's registers, stays shallow (iCE40 Fmax).
    // The edge that samples start registers the loop bounds; the next one (`prepare`) loads them into the
    // loop counters, and the one after (`launch`) starts the counters and the controller: every step of
    // the start-up is a register to register hop, whatever the placer does with the wide nets.
    // Bounds are kept as "count - 2" (two's complement, -1 for a single iteration): what dpq_loop_counter
    // loads. ceil(n / P) - 2 = floor((n - 1 - P) / P), an arithmetic shift of one subtraction. Each loop
    // counter is only as wide as the loop can run (shorter carry chains, iCE40 Fmax).
    localparam TILE_BITS     = $clog2(COLUMN_TILES);  // <= SHAPE_BITS (checked in dpq_accel)
    localparam ROW_TILE_BITS = $clog2(INDEX_DEPTH) < SHAPE_BITS ? $clog2(INDEX_DEPTH) : SHAPE_BITS;
    /* verilator lint_off WIDTHTRUNC */  // small constants, sized to the shape
    localparam [SHAPE_BITS:0] ROWS_PLUS_ONE = ROWS + 1, COLS_PLUS_ONE = COLS + 1, TWO = 2;
    /* verilator lint_on WIDTHTRUNC */
    wire signed [SHAPE_BITS:0] rows_past_first_tile = {1'b0, rows} - ROWS_PLUS_ONE;
    wire signed [SHAPE_BITS:0] columns_past_first_tile = {1'b0, columns} - COLS_PLUS_ONE;
    /* verilator lint_off UNUSEDSIGNAL */  // the bits above a loop counter's width are sign copies
    wire signed [SHAPE_BITS:0] row_tiles_less_two = rows_past_first_tile >>> ROW_SHIFT;
    wire signed [SHAPE_BITS:0] column_tiles_less_two = columns_past_first_tile >>> COL_SHIFT;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [ROW_TILE_BITS:0] row_tiles_minus_two;
    reg [TILE_BITS:0]     column_tiles_minus_two;
    reg [SHAPE_BITS:0]    vectors_minus_two;
    reg                   prepare, launch;

    // loader
    reg                  loading;
    /* verilator lint_off UNUSEDSIGNAL */  // only its low log2(COLS) bits matter (none when COLS == 1)
    reg [SHAPE_BITS-1:0] columns_minus_one;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [COLS-1:0]       last_tile_lanes;  // lanes of the last column tile inside the layer
    wire [TILE_BITS-1:0] load_tile;       // the loop counters' counts are the buffer's word addresses
    reg                  load_bank;
    wire                 load_tile_last, load_vector_last;
    // issuer
    reg                           issuing, issue_first_r;
    reg                           issue_go;     // issuing, the issue bank full and enable, as a register
    wire [TILE_BITS-1:0]          issue_tile;
    /* verilator lint_off UNUSEDSIGNAL */  // only the tile loops' counts are addresses
    wire [SHAPE_BITS-1:0]         load_vector, issue_vector;
    wire [ROW_TILE_BITS-1:0]      row_tile;
    /* verilator lint_on UNUSEDSIGNAL */
    reg                           issue_bank;
    reg [$clog2(INDEX_DEPTH)-1:0] index_address;
    wire                          row_tile_last, issue_vector_last;

    wire load_beat = in_valid && in_ready;
    wire load_done = load_beat && load_tile_last;

    assign issue = issue_go && (!issue_first_r || start_ready);
    assign issue_first = issue_first_r;
    wire   row_tile_done = issue && issue_last;
    wire   vector_done = row_tile_done && row_tile_last;
    assign issue_final = issue_last && row_tile_last && issue_vector_last;

    dpq_loop_counter #(.WIDTH(TILE_BITS)) load_tiles (
        .clk(clk), .load(prepare), .period_minus_two(column_tiles_minus_two), .tick(load_beat), .advance(1'b1),
        .count(load_tile), .last(load_tile_last)
    );
    dpq_loop_counter #(.WIDTH(SHAPE_BITS)) load_vectors (
        .clk(clk), .load(prepare), .period_minus_two(vectors_minus_two), .tick(load_beat), .advance(load_tile_last),
        .count(load_vector), .last(load_vector_last)
    );
    dpq_loop_counter #(.WIDTH(TILE_BITS)) issue_tiles (
        .clk(clk), .load(prepare), .period_minus_two(column_tiles_minus_two), .tick(issue), .advance(1'b1),
        .count(issue_tile), .last(issue_last)
    );
    dpq_loop_counter #(.WIDTH(ROW_TILE_BITS)) issue_row_tiles (
        .clk(clk), .load(prepare), .period_minus_two(row_tiles_minus_two), .tick(issue), .advance(issue_last),
        .count(row_tile), .last(row_tile_last)
    );
    dpq_loop_counter #(.WIDTH(SHAPE_BITS)) issue_vectors (
        .clk(clk), .load(prepare), .period_minus_two(vectors_minus_two), .tick(issue), .advance(issue_last && row_tile_last),
        .count(issue_vector), .last(issue_vector_last)
    );

    assign index_read_address  = index_address;
    assign buffer_read_address = {issue_bank, issue_tile};

    // zero the lanes past the last column (only the last column tile has any)
    genvar j;
    generate
        for (j = 0; j < COLS; j = j + 1) begin : lane
            wire in_layer = !load_tile_last || last_tile_lanes[j];
            assign buffer_write_data[j*ACT_BITS +: ACT_BITS] = in_layer ? in_data[j*ACT_BITS +: ACT_BITS] : {ACT_BITS{1'b0}};
            if (j == 0) begin : first_lane
                always @(posedge clk) last_tile_lanes[j] <= 1'b1;  // a tile has at least one column
            end else begin : other_lane
                localparam [COL_SHIFT-1:0] LANE = j;
                always @(posedge clk) begin
                    if (launch) last_tile_lanes[j] <= columns_minus_one[COL_SHIFT-1:0] >= LANE;
                end
            end
        end
    endgenerate
    assign buffer_write = load_beat;
    assign buffer_write_address = {load_bank, load_tile};

    // start-up: the start edge registers the bounds, `prepare` loads the loop counters, `launch` starts them
    // and clears the controller's state; `launch` and `issue` (or `load_beat`) never coincide.
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            prepare <= 1'b0;
            launch <= 1'b0;
        end else begin
            prepare <= !running && start;
            launch <= prepare;
            if (!running) running <= start;
            else if (finished) running <= 1'b0;
        end
        if (!running && start) begin
            row_tiles_minus_two <= row_tiles_less_two[ROW_TILE_BITS:0];
            column_tiles_minus_two <= column_tiles_less_two[TILE_BITS:0];
            vectors_minus_two <= {1'b0, vectors} - TWO;
            columns_minus_one <= columns - 1'b1;
        end
    end

    // Banks fill and empty in order (the loader writes the bank after the one it filled last, the issuer
    // reads the bank after the one it emptied last), so the state is only how many are full: `any_full`
    // (the issuer's bank is full) and `both_full` (the loader's bank is full too). A bank fills on its
    // last beat and empties when its vector's last tile is issued. Kept as two flags, not per-bank bits
    // indexed by a bank register: one LUT level less in front of issue_go and in_ready (iCE40 Fmax).
    reg        any_full, both_full;
    wire       next_any_full = !launch && (both_full || load_done || (any_full && !vector_done));
    wire       next_both_full = !launch && !vector_done && (both_full || (any_full && load_done));
    wire       next_issuing = launch || (issuing && !(vector_done && issue_vector_last));
    wire       next_loading = launch || (loading && !(load_done && load_vector_last));

    always @(posedge clk) begin
        if (rst) begin
            any_full <= 1'b0;
            both_full <= 1'b0;
            issuing <= 1'b0;
            issue_go <= 1'b0;
            in_ready <= 1'b0;
        end else begin
            any_full <= next_any_full;
            both_full <= next_both_full;
            issuing <= next_issuing;
            issue_go <= next_issuing && next_any_full && enable_next;
            in_ready <= next_loading && !next_both_full;
        end
    end

    // loader
    always @(posedge clk) begin
        if (rst) loading <= 1'b0;
        else loading <= next_loading;
    end
    always @(posedge clk) begin
        if (launch) load_bank <= 1'b0;
        else if (load_done) load_bank <= ~load_bank;
    end

    // issuer
    always @(posedge clk) begin
        if (launch) begin
            issue_first_r <= 1'b1;
            issue_bank <= 1'b0;
        end else if (issue) begin
            issue_first_r <= issue_last;
            issue_bank <= issue_bank ^ vector_done;
        end
        // the index memory's address restarts with every vector: a clear, not a multiplexer (iCE40 Fmax)
        if (launch || issue) index_address <= (launch || (issue_last && row_tile_last)) ? 0 : index_address + 1'b1;
    end
endmodule

`default_nettype wire
