// DP-quantized layer accelerator (top). Computes, for one layer,
//     out[v][r] = sum over c of codebook[index[r][c]] * act[v][c]
// with weights stored as cluster indices (INDEX_BITS each) and a per-layer codebook. The host
// writes the codebook and the index memory, sets the shape, pulses `start`, streams activation
// vectors in (COLS per beat) and takes results out (ROWS rows of one vector per beat); `done`
// rises when the last result has been taken. Ports and memory layout: hardware/README.md.
`default_nettype none

module dpq_accel #(
    parameter ROWS          = 4,     // rows of the array: output rows per tile (power of two)
    parameter COLS          = 4,     // columns of the array: weights per row per cycle (power of two)
    parameter INDEX_BITS    = 4,     // cluster index width, log2 of the codebook size (1..8)
    parameter CODEBOOK_BITS = 8,     // signed fixed-point centroid width
    parameter ACT_BITS      = 8,     // signed fixed-point activation width
    parameter ACC_BITS      = 32,    // accumulator and output width (wraps modulo 2^ACC_BITS)
    parameter SHAPE_BITS    = 16,    // width of rows / columns / vectors
    parameter INDEX_DEPTH   = 1024,  // index memory words (tiles of ROWS x COLS indices)
    parameter COLUMN_TILES  = 64,    // largest columns / COLS (activation buffer: two banks of this many words)
    parameter MODE          = 0      // 0: a multiplier per weight (MAC); 1: centroid accumulation (dpq_centroid_array)
) (
    input  wire                              clk,
    input  wire                              rst,  // synchronous, active high
    // host writes, while not busy
    input  wire                              codebook_write,
    input  wire [INDEX_BITS-1:0]             codebook_address,
    input  wire [CODEBOOK_BITS-1:0]          codebook_data,
    input  wire                              index_write,
    input  wire [$clog2(INDEX_DEPTH)-1:0]    index_address,  // tile (rt, ct) at rt * ceil(columns/COLS) + ct
    input  wire [ROWS*COLS*INDEX_BITS-1:0]   index_data,     // index[rt*ROWS+i][ct*COLS+j] at [(i*COLS+j)*INDEX_BITS +: INDEX_BITS]
    // layer
    input  wire [SHAPE_BITS-1:0]             rows,
    input  wire [SHAPE_BITS-1:0]             columns,
    input  wire [SHAPE_BITS-1:0]             vectors,
    input  wire                              start,
    output wire                              busy,
    output wire                              done,
    // activations: vector by vector, COLS columns per beat (column ct*COLS + j in lane j)
    input  wire                              in_valid,
    output wire                              in_ready,
    input  wire [COLS*ACT_BITS-1:0]          in_data,
    // results: vector by vector, row tile by row tile (row rt*ROWS + i in lane i)
    output wire                              out_valid,
    input  wire                              out_ready,
    output wire [ROWS*ACC_BITS-1:0]          out_data,
    output wire                              out_last
);
    localparam BUFFER_DEPTH = 2 * COLUMN_TILES;

    generate
        // an unknown module: elaboration stops with the parameter's name
        if (ROWS != (1 << $clog2(ROWS)) || COLS != (1 << $clog2(COLS))) begin : bad_array
            dpq_parameter_error_ROWS_and_COLS_must_be_powers_of_two invalid();
        end
        if (INDEX_BITS < 1 || INDEX_BITS > 8) begin : bad_index
            dpq_parameter_error_INDEX_BITS_must_be_1_to_8 invalid();
        end
        if (MODE != 0 && MODE != 1) begin : bad_mode
            dpq_parameter_error_MODE_must_be_0_or_1 invalid();
        end
        if ($clog2(COLUMN_TILES) > SHAPE_BITS) begin : bad_column_tiles
            dpq_parameter_error_COLUMN_TILES_must_not_exceed_2_to_the_SHAPE_BITS invalid();
        end
        if (ACC_BITS <= CODEBOOK_BITS + ACT_BITS) begin : bad_accumulator
            dpq_parameter_error_ACC_BITS_must_exceed_CODEBOOK_BITS_plus_ACT_BITS invalid();
        end
    endgenerate

    // the whole pipeline advances while the output buffer has room (a register: see dpq_output_buffer)
    wire enable, enable_next;
    // the final result left the accelerator, registered: `done` and the controller's `running` follow
    // one cycle later from a flip-flop rather than from the output handshake's logic (iCE40 Fmax)
    reg finished;
    always @(posedge clk) begin
        if (rst) finished <= 1'b0;
        else finished <= out_valid && out_ready && out_last;
    end

    wire running;
    assign busy = running;


    wire                               buffer_write, issue, issue_first, issue_last, issue_final;
    wire [$clog2(BUFFER_DEPTH)-1:0]    buffer_write_address, buffer_read_address;
    wire [COLS*ACT_BITS-1:0]           buffer_write_data, tile_activations;
    wire [$clog2(INDEX_DEPTH)-1:0]     index_read_address;
    wire [ROWS*COLS*INDEX_BITS-1:0]    tile_indices;

    dpq_controller #(
        .ROWS(ROWS), .COLS(COLS), .ACT_BITS(ACT_BITS), .SHAPE_BITS(SHAPE_BITS),
        .INDEX_DEPTH(INDEX_DEPTH), .COLUMN_TILES(COLUMN_TILES)
    ) controller (
        .clk(clk), .rst(rst), .start(start), .rows(rows), .columns(columns), .vectors(vectors),
        .running(running), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .buffer_write(buffer_write), .buffer_write_address(buffer_write_address),
        .buffer_write_data(buffer_write_data), .enable_next(enable_next), .start_ready(start_ready),
        .index_read_address(index_read_address), .buffer_read_address(buffer_read_address),
        .issue(issue), .issue_first(issue_first), .issue_last(issue_last), .issue_final(issue_final),
        .finished(finished)
    );

    dpq_ram #(.WIDTH(ROWS*COLS*INDEX_BITS), .DEPTH(INDEX_DEPTH)) index_memory (
        .clk(clk), .write_enable(index_write), .write_address(index_address), .write_data(index_data),
        .read_enable(enable), .read_address(index_read_address), .read_data(tile_indices)
    );

    dpq_ram #(.WIDTH(COLS*ACT_BITS), .DEPTH(BUFFER_DEPTH)) activation_buffer (
        .clk(clk), .write_enable(buffer_write), .write_address(buffer_write_address),
        .write_data(buffer_write_data), .read_enable(enable), .read_address(buffer_read_address),
        .read_data(tile_activations)
    );

    // the tile's control, registered with the memories' read data
    reg tile_valid, tile_first, tile_last, tile_final;
    always @(posedge clk) begin
        if (rst) tile_valid <= 1'b0;
        else if (enable) tile_valid <= issue;
        if (enable) begin
            tile_first <= issue_first;
            tile_last <= issue_last;
            tile_final <= issue_final;
        end
    end

    wire                     result_valid, result_final, start_ready;
    wire [ROWS*ACC_BITS-1:0] result;
    generate
        if (MODE == 0) begin : mac
            assign start_ready = 1'b1;
            dpq_mac_array #(
                .ROWS(ROWS), .COLS(COLS), .INDEX_BITS(INDEX_BITS), .CODEBOOK_BITS(CODEBOOK_BITS),
                .ACT_BITS(ACT_BITS), .ACC_BITS(ACC_BITS)
            ) array (
                .clk(clk), .rst(rst), .enable(enable), .codebook_write(codebook_write),
                .codebook_address(codebook_address),
                .codebook_data(codebook_data), .tile_valid(tile_valid),
                .tile_first(tile_first), .tile_last(tile_last), .tile_final(tile_final), .indices(tile_indices),
                .activations(tile_activations), .result_valid(result_valid), .result_final(result_final),
                .result(result)
            );
        end else begin : centroid
            // bins never overflow: ACT_BITS plus the bits of the largest column count
            dpq_centroid_array #(
                .ROWS(ROWS), .COLS(COLS), .INDEX_BITS(INDEX_BITS), .CODEBOOK_BITS(CODEBOOK_BITS),
                .ACT_BITS(ACT_BITS), .ACC_BITS(ACC_BITS), .BIN_BITS(ACT_BITS + $clog2(COLUMN_TILES * COLS))
            ) array (
                .clk(clk), .rst(rst), .enable(enable), .codebook_write(codebook_write),
                .codebook_address(codebook_address), .codebook_data(codebook_data), .issue_start(issue && issue_first),
                .start_ready(start_ready), .tile_valid(tile_valid), .tile_first(tile_first),
                .tile_last(tile_last), .tile_final(tile_final), .indices(tile_indices),
                .activations(tile_activations), .result_valid(result_valid), .result_final(result_final),
                .result(result)
            );
        end
    endgenerate

    dpq_output_buffer #(.WIDTH(ROWS*ACC_BITS + 1)) results (
        .clk(clk), .rst(rst), .push(enable && result_valid), .push_data({result_final, result}),
        .room(enable), .room_next(enable_next), .out_valid(out_valid), .out_ready(out_ready), .out_data({out_last, out_data})
    );

    // `done`: a layer has run and none is running. `running` rises at the edge that samples start and falls
    // at the edge after the final result left, so `done` needs no flip-flop of its own and no logic from
    // the start and output handshakes in front of one (iCE40 Fmax).
    reg has_run;
    always @(posedge clk) begin
        if (rst) has_run <= 1'b0;
        else if (start) has_run <= 1'b1;
    end
    assign done = has_run && !running;
endmodule

`default_nettype wire
