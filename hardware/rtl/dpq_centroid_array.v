// Centroid-accumulation array (MODE=1 of dpq_accel): instead of one multiplier per weight, each row adds
// the activations that share a cluster index into one bin per codebook entry, then multiplies each bin
// by its centroid once: ROWS multipliers in all instead of ROWS*COLS, for ROWS*ENTRIES bin_values of adders.
//
// Two bin banks: a row tile accumulates into one while the previous row tile's bin_values drain through the
// multiplier, one entry per cycle (ENTRIES cycles). A bank is claimed when its row tile's first column
// tile is issued and released when its last bin has been read; `start_ready` tells the controller
// whether a new row tile may be issued (fewer than two banks claimed).
//
// Accumulation: register (indices, activations) -> add into the bin_values.
// Drain: register (bin, centroid) -> multiply -> accumulate; `result` is combinational from the last.
`default_nettype none

module dpq_centroid_array #(
    parameter ROWS          = 4,
    parameter COLS          = 4,
    parameter INDEX_BITS    = 4,
    parameter CODEBOOK_BITS = 8,
    parameter ACT_BITS      = 8,
    parameter ACC_BITS      = 32,
    parameter BIN_BITS      = 16   // bin width: ACT_BITS + log2(largest columns) never overflows
) (
    input  wire                                     clk,
    input  wire                                     rst,
    input  wire                                     enable,
    input  wire                                     codebook_write,  // host write port of the codebook
    input  wire [INDEX_BITS-1:0]                    codebook_address,
    input  wire [CODEBOOK_BITS-1:0]                 codebook_data,
    input  wire                                     issue_start,  // a row tile's first column tile is issued now
    output wire                                     start_ready,
    input  wire                                     tile_valid,
    input  wire                                     tile_first,
    input  wire                                     tile_last,
    input  wire                                     tile_final,
    input  wire [ROWS*COLS*INDEX_BITS-1:0]          indices,
    input  wire [COLS*ACT_BITS-1:0]                 activations,
    output wire                                     result_valid,
    output wire                                     result_final,
    output wire [ROWS*ACC_BITS-1:0]                 result
);
    localparam ENTRIES = 1 << INDEX_BITS;
    localparam PRODUCT_BITS = BIN_BITS + CODEBOOK_BITS;

    // bank bookkeeping: a full bank stays full while it drains
    reg [1:0] claimed;          // banks claimed: 0..2
    reg       fill_bank;        // bank the accumulation stage writes
    reg       drain_bank;       // bank drained next (or now)
    reg [1:0] bank_full;
    reg [1:0] bank_final;       // holds the layer's last row tile
    reg [INDEX_BITS-1:0] entry; // bin being read
    wire drain_read = enable && bank_full[drain_bank];
    wire drain_done = drain_read && entry == ENTRIES - 1;
    assign start_ready = claimed != 2'd2;

    // accumulation stage registers
    reg                            acc_valid, acc_first, acc_last, acc_final;
    reg [ROWS*COLS*INDEX_BITS-1:0] acc_indices;
    reg [COLS*ACT_BITS-1:0]        acc_activations;
    wire bank_complete = enable && acc_valid && acc_last;

    always @(posedge clk) begin
        if (rst) begin
            acc_valid <= 1'b0;
            claimed <= 2'd0;
            fill_bank <= 1'b0;
            drain_bank <= 1'b0;
            bank_full <= 2'b00;
            entry <= 0;
        end else begin
            if (enable) acc_valid <= tile_valid;
            claimed <= claimed + (enable && issue_start ? 2'd1 : 2'd0) - (drain_done ? 2'd1 : 2'd0);
            if (bank_complete) fill_bank <= ~fill_bank;
            bank_full <= (bank_full | (bank_complete ? (2'b01 << fill_bank) : 2'b00))
                         & ~(drain_done ? (2'b01 << drain_bank) : 2'b00);
            if (drain_done) drain_bank <= ~drain_bank;
            if (drain_read) entry <= entry + 1'b1;  // wraps to 0 after the last entry
        end
        if (enable) begin
            acc_first <= tile_first;
            acc_last <= tile_last;
            acc_final <= tile_final;
            acc_indices <= indices;
            acc_activations <= activations;
        end
        if (bank_complete) bank_final[fill_bank] <= acc_final;
    end

    // drain control: {valid, first, last, final} through (bin, centroid) register and multiply
    reg [3:0] drain_select, drain_multiply;
    always @(posedge clk) begin
        if (rst) begin
            drain_select <= 4'b0;
            drain_multiply <= 4'b0;
        end else if (enable) begin
            drain_select <= {drain_read, entry == 0, entry == ENTRIES - 1, bank_final[drain_bank]};
            drain_multiply <= drain_select;
        end
    end
    wire sum_valid = drain_multiply[3];
    wire sum_first = drain_multiply[2];
    assign result_valid = sum_valid && drain_multiply[1];
    assign result_final = drain_multiply[0];

    wire signed [CODEBOOK_BITS-1:0] centroid;
    dpq_codebook #(.INDEX_BITS(INDEX_BITS), .CODEBOOK_BITS(CODEBOOK_BITS), .LANES(1)) centroids (
        .clk(clk), .write_enable(codebook_write), .write_address(codebook_address), .write_data(codebook_data),
        .read_enable(enable), .read_indices(entry), .read_values(centroid)
    );

    genvar i, j, k, b;
    generate
        for (i = 0; i < ROWS; i = i + 1) begin : row
            // bin_values of bank b, entry k at [(b*ENTRIES+k)*BIN_BITS +: BIN_BITS]
            wire [2*ENTRIES*BIN_BITS-1:0] bin_values;
            for (b = 0; b < 2; b = b + 1) begin : bank
                for (k = 0; k < ENTRIES; k = k + 1) begin : entry_bin
                    // the activations of this row whose index is k, summed
                    wire [COLS*BIN_BITS-1:0] chosen;
                    for (j = 0; j < COLS; j = j + 1) begin : lane
                        wire match = acc_indices[(i*COLS+j)*INDEX_BITS +: INDEX_BITS] == k;
                        wire signed [ACT_BITS-1:0] activation = acc_activations[j*ACT_BITS +: ACT_BITS];
                        wire [BIN_BITS-1:0] extended = {{(BIN_BITS-ACT_BITS){activation[ACT_BITS-1]}}, activation};
                        assign chosen[j*BIN_BITS +: BIN_BITS] = match ? extended : {BIN_BITS{1'b0}};
                    end
                    reg [BIN_BITS-1:0] value;
                    integer lane_index;
                    reg [BIN_BITS-1:0] increment;
                    always @(*) begin
                        increment = {BIN_BITS{1'b0}};
                        for (lane_index = 0; lane_index < COLS; lane_index = lane_index + 1)
                            increment = increment + chosen[lane_index*BIN_BITS +: BIN_BITS];
                    end
                    always @(posedge clk) begin
                        if (enable && acc_valid && fill_bank == b)
                            value <= (acc_first ? {BIN_BITS{1'b0}} : value) + increment;
                    end
                    assign bin_values[(b*ENTRIES+k)*BIN_BITS +: BIN_BITS] = value;
                end
            end

            // drain: one bin per cycle through one multiplier
            reg signed [BIN_BITS-1:0] bin_value;
            always @(posedge clk) begin
                if (enable) bin_value <= bin_values[{drain_bank, entry}*BIN_BITS +: BIN_BITS];
            end
            /* verilator lint_off UNUSEDSIGNAL */  // the high bits when the accumulator is narrower
            wire signed [PRODUCT_BITS-1:0] full_product = bin_value * centroid;
            /* verilator lint_on UNUSEDSIGNAL */
            wire [ACC_BITS-1:0] wrapped;  // modulo 2^ACC_BITS, like the sums after it
            if (ACC_BITS <= PRODUCT_BITS) begin : narrow
                assign wrapped = full_product[ACC_BITS-1:0];
            end else begin : wide
                assign wrapped = {{(ACC_BITS-PRODUCT_BITS){full_product[PRODUCT_BITS-1]}}, full_product};
            end
            reg  [ACC_BITS-1:0] product;
            always @(posedge clk) begin
                if (enable) product <= wrapped;
            end
            reg  [ACC_BITS-1:0] sum;
            wire [ACC_BITS-1:0] total = (sum_first ? {ACC_BITS{1'b0}} : sum) + product;
            always @(posedge clk) begin
                if (enable && sum_valid) sum <= total;
            end
            assign result[i*ACC_BITS +: ACC_BITS] = total;
        end
    endgenerate
endmodule

`default_nettype wire
