// ROWS x COLS multiply-accumulate array (plain MAC mode). Per enabled cycle it takes one index word
// (ROWS*COLS cluster indices) and one activation word (COLS activations), turns each index into its
// centroid at the edge of the array (a codebook RAM copy per lane), multiplies, sums each row with a
// pipelined adder tree and accumulates over the column tiles of a row tile.
//
// Pipeline (every register advances only while `enable`): index register -> codebook read -> multiply
// -> log2(COLS) tree levels -> row sum register -> three accumulator parts (dpq_accumulator). `result` is
// combinational from the last stage: the row tile's ROWS sums, valid with `result_valid`. Each stage is
// at most one short carry chain or two LUT levels deep (iCE40 UP5K at 75 MHz).
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
    localparam ACC_PARTS    = 3;  // accumulator carry chains (dpq_accumulator); ACC_BITS >= 3 always
    localparam STAGES       = DEPTH + ACC_PARTS - 1;  // the accumulator's first part works on the sum register

    // control travels beside the data: {valid, starts (valid and first), last, final} per stage, stage s at
    // [4*s +: 4]; `starts` is a register bit so that the accumulators' clears are flip-flop outputs
    reg [4*STAGES-1:0] control;
    always @(posedge clk) begin
        if (rst) control <= {4*STAGES{1'b0}};
        else if (enable)
            control <= {control[4*(STAGES-1)-1:0], tile_valid, tile_valid && tile_first, tile_last, tile_final};
    end
    // accumulator part p works at stage DEPTH-1+p; it clears when the stage before holds a row tile's start
    wire [ACC_PARTS-1:0] part_clear;
    genvar p;
    generate
        for (p = 0; p < ACC_PARTS; p = p + 1) begin : part_control
            assign part_clear[p] = control[4*(DEPTH-2+p) + 2];
        end
    endgenerate
    // the last stage: valid, last (of a row tile) and final (of the layer); its `first` bit is not needed
    assign result_valid = control[4*(STAGES-1) + 3] && control[4*(STAGES-1) + 1];
    assign result_final = control[4*(STAGES-1)];

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

            dpq_accumulator #(.WIDTH(ACC_BITS), .PARTS(ACC_PARTS)) accumulator (
                .clk(clk), .enable(enable), .clear(part_clear), .sum(row_sum),
                .total(result[i*ACC_BITS +: ACC_BITS])
            );
        end
    endgenerate

    always @(posedge clk) begin
        // a bubble (no tile) multiplies zeros: its row sum is 0, so the accumulators add every stage
        // without a per-stage enable (no LUT in front of their clock enables)
        if (enable) lane_activations <= control[3] ? activations_r : {COLS*ACT_BITS{1'b0}};
    end
endmodule

`default_nettype wire
