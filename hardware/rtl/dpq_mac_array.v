// ROWS x COLS multiply-accumulate array (plain MAC mode). Per enabled cycle it takes one index word
// (ROWS*COLS cluster indices) and one activation word (COLS activations), turns each index into its
// centroid at the edge of the array (a codebook RAM copy per lane), multiplies, sums each row with a
// pipelined adder tree and accumulates over the column tiles of a row tile.
//
// Pipeline (every register advances only while `enable`): index register -> codebook read -> multiply
// -> log2(COLS) tree levels -> accumulate low half -> accumulate high half. `result` is combinational
// from the last stage: the row tile's ROWS sums, valid with `result_valid`. Each stage is at most one
// carry chain or two LUT levels deep (iCE40 UP5K at 75 MHz).
`default_nettype none

module dpq_mac_array #(
    parameter ROWS          = 4,
    parameter COLS          = 4,
    parameter INDEX_BITS    = 4,
    parameter CODEBOOK_BITS = 8,
    parameter ACT_BITS      = 8,
    parameter ACC_BITS      = 32
) (
    input  wire                                     clk,
    input  wire                                     rst,
    input  wire                                     enable,
    input  wire                                     codebook_write,  // host write port of the codebook
    input  wire [INDEX_BITS-1:0]                    codebook_address,
    input  wire [CODEBOOK_BITS-1:0]                 codebook_data,
    // one tile, aligned with the memories' read data
    input  wire                                     tile_valid,
    input  wire                                     tile_first,
    input  wire                                     tile_last,
    input  wire                                     tile_final,
    input  wire [ROWS*COLS*INDEX_BITS-1:0]          indices,      // (row i, lane j) at [(i*COLS+j)*INDEX_BITS +: INDEX_BITS]
    input  wire [COLS*ACT_BITS-1:0]                 activations,  // lane j at [j*ACT_BITS +: ACT_BITS]
    output wire                                     result_valid,
    output wire                                     result_final,
    output wire [ROWS*ACC_BITS-1:0]                 result        // row i at [i*ACC_BITS +: ACC_BITS]
);
    localparam PRODUCT_BITS = CODEBOOK_BITS + ACT_BITS;
    localparam TREE_LEVELS  = $clog2(COLS);
    // a row's sum of COLS products needs TREE_LEVELS more bits than a product (wrapping like the accumulator)
    localparam SUM_BITS     = PRODUCT_BITS + TREE_LEVELS < ACC_BITS ? PRODUCT_BITS + TREE_LEVELS : ACC_BITS;
    localparam DEPTH        = 4 + TREE_LEVELS;  // index register, lookup, multiply, tree levels, sum register
    localparam LOW_BITS     = ACC_BITS / 2;
    localparam HIGH_BITS    = ACC_BITS - LOW_BITS;

    // control travels beside the data: {valid, first, last, final} per stage
    reg [4*DEPTH-1:0] control;
    always @(posedge clk) begin
        if (rst) control <= {4*DEPTH{1'b0}};
        else if (enable) control <= {control[4*(DEPTH-1)-1:0], tile_valid, tile_first, tile_last, tile_final};
    end
    wire acc_valid  = control[4*DEPTH-1];
    wire acc_first  = control[4*DEPTH-2];
    wire acc_last   = control[4*DEPTH-3];
    wire acc_final  = control[4*DEPTH-4];
    wire next_valid = control[4*DEPTH-5];  // the stage before: accumulates at the next enabled edge
    wire next_first = control[4*DEPTH-6];
    // the high half's stage
    reg high_valid, high_last, high_final;
    always @(posedge clk) begin
        if (rst) high_valid <= 1'b0;
        else if (enable) high_valid <= acc_valid;
        if (enable) begin
            high_last <= acc_last;
            high_final <= acc_final;
        end
    end
    assign result_valid = high_valid && high_last;
    assign result_final = high_final;

    reg [ROWS*COLS*INDEX_BITS-1:0] indices_r;
    reg [COLS*ACT_BITS-1:0]        activations_r;
    always @(posedge clk) begin
        if (enable) begin
            indices_r <= indices;
            activations_r <= activations;
        end
    end

    // lookup stage: centroid per (row, lane) from the lane's codebook copy, activation per lane
    wire [ROWS*COLS*CODEBOOK_BITS-1:0] weights;
    reg  [COLS*ACT_BITS-1:0]           lane_activations;
    dpq_codebook #(.INDEX_BITS(INDEX_BITS), .CODEBOOK_BITS(CODEBOOK_BITS), .LANES(ROWS*COLS)) centroids (
        .clk(clk), .write_enable(codebook_write), .write_address(codebook_address), .write_data(codebook_data),
        .read_enable(enable), .read_indices(indices_r), .read_values(weights)
    );
    genvar i, j;
    generate
        for (i = 0; i < ROWS; i = i + 1) begin : row
            wire [COLS*PRODUCT_BITS-1:0] products;
            for (j = 0; j < COLS; j = j + 1) begin : lane
                // multiply stage
                wire signed [CODEBOOK_BITS-1:0] weight = weights[(i*COLS+j)*CODEBOOK_BITS +: CODEBOOK_BITS];
                wire signed [ACT_BITS-1:0] activation = lane_activations[j*ACT_BITS +: ACT_BITS];
                wire signed [PRODUCT_BITS-1:0] product = weight * activation;
                reg signed [PRODUCT_BITS-1:0] product_r;
                always @(posedge clk) begin
                    if (enable) product_r <= product;
                end
                assign products[j*PRODUCT_BITS +: PRODUCT_BITS] = product_r;
            end

            wire [SUM_BITS-1:0] tree_sum;
            dpq_adder_tree #(.INPUTS(COLS), .WIDTH(PRODUCT_BITS), .SUM_WIDTH(SUM_BITS)) tree (
                .clk(clk), .enable(enable), .terms(products), .sum(tree_sum)
            );
            // the row's sum registered once more beside its accumulator: the tree sits by the multipliers
            // (DSPs at the die's edges), so this hop is routing only and the accumulator's carry chain
            // starts from a near register
            reg [ACC_BITS-1:0] row_sum;
            always @(posedge clk) begin
                if (enable) row_sum <= {{(ACC_BITS-SUM_BITS){tree_sum[SUM_BITS-1]}}, tree_sum};
            end

            // Accumulation in two halves (the iCE40 carry chain of a whole accumulator word misses 75 MHz):
            // the low half adds at the accumulate stage, the high half one stage later with the low half's
            // carry. `base_*` is what the next sum adds to, cleared one stage ahead when a row tile's first
            // column tile is next, so no multiplexer sits in front of either adder.
            reg  [LOW_BITS-1:0]  base_low, low_result;
            reg  [HIGH_BITS-1:0] base_high, high_term;
            reg                  low_carry;
            wire [LOW_BITS:0]    low_total = {1'b0, base_low} + {1'b0, row_sum[LOW_BITS-1:0]};
            wire [HIGH_BITS-1:0] high_total = base_high + high_term + {{(HIGH_BITS-1){1'b0}}, low_carry};
            always @(posedge clk) begin
                if (enable) begin
                    if (next_valid && next_first) base_low <= {LOW_BITS{1'b0}};
                    else if (acc_valid) base_low <= low_total[LOW_BITS-1:0];
                    low_result <= low_total[LOW_BITS-1:0];
                    low_carry <= low_total[LOW_BITS];
                    high_term <= row_sum[ACC_BITS-1:LOW_BITS];
                    if (acc_valid && acc_first) base_high <= {HIGH_BITS{1'b0}};
                    else if (high_valid) base_high <= high_total;
                end
            end
            wire [ACC_BITS-1:0] total = {high_total, low_result};
            assign result[i*ACC_BITS +: ACC_BITS] = total;
        end
    endgenerate

    always @(posedge clk) begin
        if (enable) lane_activations <= activations_r;
    end
endmodule

`default_nettype wire
