// Pipelined binary adder tree: sums INPUTS words (a power of two) with one register per level,
// so the sum of the inputs presented at one enabled edge appears log2(INPUTS) enabled edges later.
// Sums wrap modulo 2^WIDTH (two's complement), like the accumulator behind it.
`default_nettype none

module dpq_adder_tree #(
    parameter INPUTS = 4,  // power of two
    parameter WIDTH  = 32
) (
    /* verilator lint_off UNUSEDSIGNAL */  // a one-input tree has no registers
    input  wire                    clk,
    input  wire                    enable,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [INPUTS*WIDTH-1:0] terms,  // term t at [t*WIDTH +: WIDTH]
    output wire [WIDTH-1:0]        sum
);
    // heap layout: node n has children 2n+1 and 2n+2; the leaves are nodes INPUTS-1 .. 2*INPUTS-2
    wire [(2*INPUTS-1)*WIDTH-1:0] node;
    assign node[(INPUTS-1)*WIDTH +: INPUTS*WIDTH] = terms;
    assign sum = node[0 +: WIDTH];

    genvar n;
    generate
        for (n = 0; n < INPUTS - 1; n = n + 1) begin : adder
            reg [WIDTH-1:0] partial;
            always @(posedge clk) begin
                if (enable) partial <= node[(2*n+1)*WIDTH +: WIDTH] + node[(2*n+2)*WIDTH +: WIDTH];
            end
            assign node[n*WIDTH +: WIDTH] = partial;
        end
    endgenerate
endmodule

`default_nettype wire
