// Pipelined binary adder tree: sums INPUTS signed words (a power of two) with one register per level,
// so the sum of the inputs presented at one enabled edge appears log2(INPUTS) enabled edges later.
// Each level's adders are only one bit wider than their terms (capped at SUM_WIDTH, where sums wrap
// modulo 2^SUM_WIDTH like the accumulator behind): short carry chains (iCE40 Fmax).
`default_nettype none

module dpq_adder_tree #(
    parameter INPUTS    = 4,   // power of two
    parameter WIDTH     = 16,  // bits per term (signed)
    parameter SUM_WIDTH = 18   // bits of the sum: at least WIDTH; WIDTH + log2(INPUTS) never wraps
) (
    /* verilator lint_off UNUSEDSIGNAL */  // a one-input tree has no registers
    input  wire                    clk,
    input  wire                    enable,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [INPUTS*WIDTH-1:0] terms,  // term t at [t*WIDTH +: WIDTH]
    output wire [SUM_WIDTH-1:0]    sum
);
    localparam LEVELS = $clog2(INPUTS);
    // heap layout: node n has children 2n+1 and 2n+2; the leaves are nodes INPUTS-1 .. 2*INPUTS-2.
    // Every node is held sign-extended to SUM_WIDTH; a node's adder uses only the bits its level needs.
    wire [(2*INPUTS-1)*SUM_WIDTH-1:0] node;
    assign sum = node[0 +: SUM_WIDTH];

    genvar n;
    generate
        for (n = 0; n < INPUTS; n = n + 1) begin : leaf
            wire [WIDTH-1:0] term = terms[n*WIDTH +: WIDTH];
            assign node[(INPUTS-1+n)*SUM_WIDTH +: SUM_WIDTH] = {{(SUM_WIDTH-WIDTH){term[WIDTH-1]}}, term};
        end
        for (n = 0; n < INPUTS - 1; n = n + 1) begin : adder
            // node n sits $clog2(n+2)-1 levels below the root, so it sums 2^(LEVELS-depth) terms
            localparam DEPTH = $clog2(n + 2) - 1;
            localparam FULL = WIDTH + LEVELS - DEPTH;
            localparam BITS = FULL < SUM_WIDTH ? FULL : SUM_WIDTH;
            /* verilator lint_off UNUSEDSIGNAL */  // the children's bits above BITS are sign copies
            wire [SUM_WIDTH-1:0] left = node[(2*n+1)*SUM_WIDTH +: SUM_WIDTH];
            wire [SUM_WIDTH-1:0] right = node[(2*n+2)*SUM_WIDTH +: SUM_WIDTH];
            /* verilator lint_on UNUSEDSIGNAL */
            reg [BITS-1:0] partial;
            always @(posedge clk) begin
                if (enable) partial <= left[BITS-1:0] + right[BITS-1:0];
            end
            if (BITS < SUM_WIDTH) begin : extend
                assign node[n*SUM_WIDTH +: SUM_WIDTH] = {{(SUM_WIDTH-BITS){partial[BITS-1]}}, partial};
            end else begin : full
                assign node[n*SUM_WIDTH +: SUM_WIDTH] = partial;
            end
        end
    endgenerate
endmodule

`default_nettype wire
