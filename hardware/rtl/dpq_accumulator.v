// Accumulator of one row of the MAC array, split into PARTS carry chains one pipeline stage apart (a
// carry-save pipeline): part p adds bits [p*PART_BITS +: its width] of the sum at stage p, with the
// carry part p-1 registered a stage earlier, so no carry chain is longer than ceil(WIDTH / PARTS) bits
// (the iCE40 carry chain of a whole accumulator word misses 75 MHz). The sum of a row tile's column
// tiles appears at the last part's stage: `total` is combinational there.
//
// `base` is what each part's next sum adds to; it is cleared one stage ahead (`clear`) when a row
// tile's first column tile comes next, so no multiplexer sits in front of an adder. Every enabled edge
// adds: a stage without a tile must bring a zero sum (it then carries nothing either).
`default_nettype none

module dpq_accumulator #(
    parameter WIDTH = 32,  // bits of the sum and of the accumulator (wraps modulo 2^WIDTH)
    parameter PARTS = 3    // carry chains (stages); 1 <= PARTS <= WIDTH
) (
    input  wire             clk,
    input  wire             enable,
    input  wire [PARTS-1:0] clear,  // bit p: the tile entering part p's stage at the next edge starts a row tile
    input  wire [WIDTH-1:0] sum,    // the row sum of the tile at part 0's stage
    output wire [WIDTH-1:0] total   // the accumulated sum of the tile at the last part's stage
);
    localparam PART_BITS = WIDTH / PARTS;
    localparam TOP_BITS  = WIDTH - (PARTS - 1) * PART_BITS;  // the last part takes the remainder

    wire [PARTS-1:0] carry;  // carry[p]: into part p, registered at part p-1's stage
    assign carry[0] = 1'b0;

    genvar p;
    generate
        for (p = 0; p < PARTS; p = p + 1) begin : part
            localparam LOW  = p * PART_BITS;
            localparam BITS = p == PARTS - 1 ? TOP_BITS : PART_BITS;
            localparam LATER = PARTS - 1 - p;  // stages from this part to the last

            // this part's bits of the sum, delayed p stages to meet their carry
            wire [BITS-1:0] term;
            if (p == 0) begin : now
                assign term = sum[LOW +: BITS];
            end else begin : delayed
                reg [BITS-1:0] line [1:p];
                integer d;
                always @(posedge clk) begin
                    if (enable) begin
                        line[1] <= sum[LOW +: BITS];
                        for (d = 2; d <= p; d = d + 1) line[d] <= line[d-1];
                    end
                end
                assign term = line[p];
            end

            reg  [BITS-1:0] base;
            wire [BITS:0]   part_total = {1'b0, base} + {1'b0, term} + {{BITS{1'b0}}, carry[p]};
            always @(posedge clk) begin
                if (enable) begin
                    if (clear[p]) base <= {BITS{1'b0}};
                    else base <= part_total[BITS-1:0];
                end
            end

            // the part's sum, held until the last part's stage
            if (LATER == 0) begin : last
                assign total[LOW +: BITS] = part_total[BITS-1:0];
                /* verilator lint_off UNUSEDSIGNAL */  // the top part's carry out is dropped (wraps)
                wire unused_carry = part_total[BITS];
                /* verilator lint_on UNUSEDSIGNAL */
            end else begin : held
                reg carry_r;
                reg [BITS-1:0] result [1:LATER];
                integer d;
                always @(posedge clk) begin
                    if (enable) begin
                        carry_r <= part_total[BITS];
                        result[1] <= part_total[BITS-1:0];
                        for (d = 2; d <= LATER; d = d + 1) result[d] <= result[d-1];
                    end
                end
                assign carry[p+1] = carry_r;
                assign total[LOW +: BITS] = result[LATER];
            end
        end
    endgenerate
endmodule

`default_nettype wire
