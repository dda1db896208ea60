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
    output wire                             in_ready,
    input  wire [COLS*ACT_BITS-1:0]         in_data,
    // activation buffer write port
    output wire                             buffer_write,
    output wire [$clog2(2*COLUMN_TILES)-1:0] buffer_write_address,
    output wire [COLS*ACT_BITS-1:0]         buffer_write_data,
    // issue: read addresses and the tile's control, while `enable` (the pipeline is not stalled)
    input  wire                             enable,
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
    localparam BUF_BITS  = $clog2(2*COLUMN_TILES);

    reg [SHAPE_BITS-1:0] columns_r, vectors_r;
    reg [SHAPE_BITS-1:0] row_tiles, column_tiles;

    // loader
    reg [SHAPE_BITS-1:0] load_vector, load_column;
    reg [SHAPE_BITS-1:0] load_tile;
    reg                  load_bank;
    reg [1:0]            bank_full;
    // issuer
    reg [SHAPE_BITS-1:0]          issue_vector, issue_row_tile;
    reg [SHAPE_BITS-1:0]          issue_tile;
    reg                           issue_bank;
    reg [$clog2(INDEX_DEPTH)-1:0] index_address;

    assign in_ready = running && load_vector != vectors_r && !bank_full[load_bank];
    wire load_beat = in_valid && in_ready;
    wire load_done = load_beat && load_tile == column_tiles - 1'b1;

    assign issue = running && enable && issue_vector != vectors_r && bank_full[issue_bank]
                   && (issue_tile != 0 || start_ready);
    assign issue_first = issue_tile == 0;
    assign issue_last  = issue_tile == column_tiles - 1'b1;
    wire   row_tile_last = issue_row_tile == row_tiles - 1'b1;
    wire   vector_done = issue && issue_last && row_tile_last;
    assign issue_final = issue_last && row_tile_last && issue_vector == vectors_r - 1'b1;

    assign index_read_address  = index_address;
    assign buffer_read_address = {issue_bank, issue_tile[BUF_BITS-2:0]};

    // zero the lanes past the last column
    genvar j;
    generate
        for (j = 0; j < COLS; j = j + 1) begin : lane
            wire in_layer = load_column + j < columns_r;
            assign buffer_write_data[j*ACT_BITS +: ACT_BITS] = in_layer ? in_data[j*ACT_BITS +: ACT_BITS] : {ACT_BITS{1'b0}};
        end
    endgenerate
    assign buffer_write = load_beat;
    assign buffer_write_address = {load_bank, load_tile[BUF_BITS-2:0]};

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            bank_full <= 2'b00;
        end else if (!running) begin
            if (start) begin
                running <= 1'b1;
                columns_r <= columns;
                vectors_r <= vectors;
                row_tiles <= (rows + ROWS - 1) >> ROW_SHIFT;
                column_tiles <= (columns + COLS - 1) >> COL_SHIFT;
                load_vector <= 0;
                load_column <= 0;
                load_tile <= 0;
                load_bank <= 1'b0;
                bank_full <= 2'b00;
                issue_vector <= 0;
                issue_row_tile <= 0;
                issue_tile <= 0;
                issue_bank <= 1'b0;
                index_address <= 0;
            end
        end else begin
            if (finished) running <= 1'b0;
            // a bank fills on its last beat and empties when its vector's last tile is issued;
            // the loader only writes an empty bank and the issuer only reads a full one
            bank_full <= (bank_full | (load_done ? (2'b01 << load_bank) : 2'b00))
                         & ~(vector_done ? (2'b01 << issue_bank) : 2'b00);
            if (load_beat) begin
                if (load_done) begin
                    load_tile <= 0;
                    load_column <= 0;
                    load_bank <= ~load_bank;
                    load_vector <= load_vector + 1'b1;
                end else begin
                    load_tile <= load_tile + 1'b1;
                    load_column <= load_column + COLS;
                end
            end
            if (issue) begin
                if (issue_last) begin
                    issue_tile <= 0;
                    if (row_tile_last) begin
                        issue_row_tile <= 0;
                        issue_bank <= ~issue_bank;
                        issue_vector <= issue_vector + 1'b1;
                        index_address <= 0;
                    end else begin
                        issue_row_tile <= issue_row_tile + 1'b1;
                        index_address <= index_address + 1'b1;
                    end
                end else begin
                    issue_tile <= issue_tile + 1'b1;
                    index_address <= index_address + 1'b1;
                end
            end
        end
    end
endmodule

`default_nettype wire
