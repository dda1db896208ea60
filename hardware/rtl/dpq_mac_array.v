// ROWS x COLS multiply-accumulate array (plain MAC mode). Per enabled cycle it takes one index
// word (ROWS*COLS cluster indices) and one activation word (COLS activations), turns each index
// into its centroid at the edge of the array, multiplies, sums each row with a pipelined adder
// tree and accumulates over the column tiles of a row tile.
//
// Pipeline (every register advances only while `enable`): lookup -> multiply -> log2(COLS) tree
// levels -> accumulate. `result` is combinational from the accumulate stage: the row tile's ROWS
// sums, valid with `result_valid` in the cycle its last column tile is accumulated.
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
    input  wire                                     enable,
    input  wire [(1<<INDEX_BITS)*CODEBOOK_BITS-1:0] codebook,
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
    localparam DEPTH        = 2 + TREE_LEVELS;  // lookup, multiply, tree levels

    // control travels beside the data: {valid, first, last, final} per stage
    reg [4*DEPTH-1:0] control;
    always @(posedge clk) begin
        if (enable) control <= {control[4*(DEPTH-1)-1:0], tile_valid, tile_first, tile_last, tile_final};
    end
    wire acc_valid = control[4*DEPTH-1];
    wire acc_first = control[4*DEPTH-2];
    wire acc_last  = control[4*DEPTH-3];
    assign result_final = control[4*DEPTH-4];
    assign result_valid = acc_valid && acc_last;

    // lookup stage: centroid per (row, lane), activation per lane
    reg [ROWS*COLS*CODEBOOK_BITS-1:0] weights;
    reg [COLS*ACT_BITS-1:0]           lane_activations;
    genvar i, j;
    generate
        for (i = 0; i < ROWS; i = i + 1) begin : row
            wire [COLS*ACC_BITS-1:0] products;
            for (j = 0; j < COLS; j = j + 1) begin : lane
                wire [INDEX_BITS-1:0] index = indices[(i*COLS+j)*INDEX_BITS +: INDEX_BITS];
                always @(posedge clk) begin
                    if (enable) weights[(i*COLS+j)*CODEBOOK_BITS +: CODEBOOK_BITS] <= codebook[index*CODEBOOK_BITS +: CODEBOOK_BITS];
                end
                // multiply stage
                wire signed [CODEBOOK_BITS-1:0] weight = weights[(i*COLS+j)*CODEBOOK_BITS +: CODEBOOK_BITS];
                wire signed [ACT_BITS-1:0] activation = lane_activations[j*ACT_BITS +: ACT_BITS];
                wire signed [PRODUCT_BITS-1:0] product = weight * activation;
                reg signed [ACC_BITS-1:0] product_r;
                always @(posedge clk) begin
                    if (enable) product_r <= {{(ACC_BITS-PRODUCT_BITS){product[PRODUCT_BITS-1]}}, product};
                end
                assign products[j*ACC_BITS +: ACC_BITS] = product_r;
            end

            wire [ACC_BITS-1:0] row_sum;
            dpq_adder_tree #(.INPUTS(COLS), .WIDTH(ACC_BITS)) tree (
                .clk(clk), .enable(enable), .terms(products), .sum(row_sum)
            );

            reg  [ACC_BITS-1:0] accumulator;
            wire [ACC_BITS-1:0] total = (acc_first ? {ACC_BITS{1'b0}} : accumulator) + row_sum;
            always @(posedge clk) begin
                if (enable && acc_valid) accumulator <= total;
            end
            assign result[i*ACC_BITS +: ACC_BITS] = total;
        end
    endgenerate

    always @(posedge clk) begin
        if (enable) lane_activations <= activations;
    end
endmodule

`default_nettype wire
