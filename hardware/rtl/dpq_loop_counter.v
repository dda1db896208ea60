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
    input  wire           load,              // sample the period; the loop starts from 0 at the next edge
    input  wire [WIDTH:0] period_minus_two,  // two's complement, >= -1; sampled with load
    input  wire           tick,              // an event that may step the counter ...
    input  wire           advance,           // ... and whether it does (kept apart: shallower enables)
    output reg  [WIDTH-1:0] count,           // this iteration: 0 .. period - 1
    output reg            last               // this iteration is the loop's last (count == period - 1)
);
    // Everything a step reads is a register of this counter, so the placer can keep it in one spot: the
    // period and the restart are registered here rather than taken from the controller's wide nets.
    reg             restart;
    reg [WIDTH-1:0] bound_inverted;  // ~(period - 2): the compare below adds it, no inverter before the chain
    reg             single;          // a period of one: every iteration is the last
    wire            step = tick && advance;
    // Before a step that does not wrap, count <= period - 2, so the next count is the last exactly when
    // count >= period - 2, the carry out of count + ~(period - 2) + 1: one carry chain of two registers.
    wire [WIDTH:0]  compare = {1'b0, count} + {1'b0, bound_inverted} + 1'b1;
    wire            next_is_last = compare[WIDTH];

    always @(posedge clk) begin
        restart <= load;
        if (load) begin
            bound_inverted <= ~period_minus_two[WIDTH-1:0];
            single <= period_minus_two[WIDTH];
        end
        if (restart || step) begin
            count <= (restart || last) ? {WIDTH{1'b0}} : count + 1'b1;
            // after a wrap (or a restart) the first iteration is the last only for a period of one
            last <= (restart || last) ? single : next_is_last;
        end
    end
endmodule

`default_nettype wire
