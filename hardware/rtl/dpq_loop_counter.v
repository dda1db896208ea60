// Loop counter with a registered "last iteration" flag: counts 0 .. period-1 and wraps to 0 on the step
// taken at the last. Built for iCE40 Fmax: the count is an up-counter cleared by the flip-flops'
// synchronous reset, so each bit is one carry-chain LUT packed with its own flip-flop (no reload
// multiplexer between chain and register), and the comparison with the period is a carry chain whose
// result is registered where the chain ends, one cycle ahead of its use (see `ahead` below).
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
    reg               restart;
    reg               single;     // a period of one: every iteration is the last
    reg               pair;       // a period of two: iteration 0 is the penultimate
    reg [WIDTH+1:0]   one_less;   // 1 - (period - 2), two's complement
    wire              step = tick && advance;

    // `penultimate` (count == period - 2: a step that does not wrap lands on the last iteration) as of this
    // cycle, from registers of the last cycle: the count then was either the same (no step), one less (a
    // step) or anything (a clear, after which the count is 0: penultimate only for a period of two). Only
    // used while this iteration is not the last, where count <= period - 2.
    // `ahead` is count + 1 >= period - 2 for the count of the last cycle, registered at its carry chain's end.
    reg               ahead, was_penultimate, stepped, cleared;
    wire [WIDTH+1:0]  ahead_sum = {2'b00, count} + one_less;
    wire              penultimate = cleared ? pair : stepped ? ahead : was_penultimate;

    always @(posedge clk) begin
        restart <= load;
        if (load) begin
            one_less <= {{2{~period_minus_two[WIDTH]}}, ~period_minus_two[WIDTH-1:0]} + {{WIDTH{1'b0}}, 2'd2};
            single <= period_minus_two[WIDTH];
        end
        if (restart) pair <= one_less == {{(WIDTH+1){1'b0}}, 1'b1};  // period - 2 == 0
        ahead <= !ahead_sum[WIDTH+1];
        was_penultimate <= penultimate;
        stepped <= step && !restart && !last;
        cleared <= restart || (step && last);
        if (restart || step) begin
            count <= (restart || last) ? {WIDTH{1'b0}} : count + 1'b1;
            // after a wrap (or a restart) the first iteration is the last only for a period of one
            last <= (restart || last) ? single : penultimate;
        end
    end
endmodule

`default_nettype wire
