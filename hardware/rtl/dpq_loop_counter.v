// Loop counter with a registered "last iteration" flag: counts 0 .. period-1 and wraps to 0 on the step
// taken at the last. Built for iCE40 Fmax: the count is an up-counter cleared by the flip-flops'
// synchronous reset, so each bit is one carry-chain LUT packed with its own flip-flop (no reload
// multiplexer between chain and register), and `last` is set from a second carry chain that compares the
// count with the period (kept in the counter, beside its chain), followed by one LUT.
`default_nettype none

module dpq_loop_counter #(
    parameter WIDTH = 16  // periods up to 2^WIDTH
) (
    input  wire           clk,
    input  wire           restart,           // start from 0
    input  wire [WIDTH:0] period_minus_two,  // two's complement, >= -1; held while the loop runs
    input  wire           tick,              // an event that may step the counter ...
    input  wire           advance,           // ... and whether it does (kept apart: shallower enables)
    output reg            last               // this iteration is the loop's last (count == period - 1)
);
    reg [WIDTH-1:0] count;
    reg [WIDTH-1:0] bound_inverted;  // ~(period - 2): the compare below adds it, no inverter before the chain
    wire            step = tick && advance;
    wire            single = period_minus_two[WIDTH];  // a period of one: every iteration is the last
    // Before a step that does not wrap, count <= period - 2, so the next count is the last exactly when
    // count >= period - 2, the carry out of count + ~(period - 2) + 1: one carry chain of two registers.
    wire [WIDTH:0]  compare = {1'b0, count} + {1'b0, bound_inverted} + 1'b1;
    wire            next_is_last = compare[WIDTH];

    always @(posedge clk) begin
        if (restart) begin
            bound_inverted <= ~period_minus_two[WIDTH-1:0];
        end
        if (restart || step) count <= (restart || last) ? {WIDTH{1'b0}} : count + 1'b1;
        // after a wrap (or a restart) the first iteration is the last only for a period of one
        if (restart || step) last <= (restart || last) ? single : next_is_last;
    end
endmodule

`default_nettype wire
