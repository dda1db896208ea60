// Down-counter over a period: steps period-1 .. 0 and wraps back on the step taken at 0. The count is
// kept minus one in a signed register one bit wider, so `at_zero` is that register's sign bit: a loop's
// "last iteration" costs no comparison. The period comes in as period-2 (from a register), so a step is
// one carry chain and one LUT: the reload value is chosen apart from the decrement (iCE40 Fmax).
`default_nettype none

module dpq_countdown #(
    parameter WIDTH = 16  // periods up to 2^WIDTH
) (
    input  wire           clk,
    input  wire           restart,           // load the period and start from its top
    input  wire [WIDTH:0] period_minus_two,  // two's complement, >= -1; sampled at restart
    input  wire           tick,              // an event that may step the counter ...
    input  wire           advance,           // ... and whether it does (kept apart: shallower enables)
    output wire           at_zero
);
    reg [WIDTH:0] count_minus_one, top_minus_one;  // -1 means the count is 0
    assign at_zero = count_minus_one[WIDTH];

    wire           reload = restart || at_zero;
    wire [WIDTH:0] reload_value = restart ? period_minus_two : top_minus_one;
    always @(posedge clk) begin
        if (restart) top_minus_one <= period_minus_two;
        if (restart || (tick && advance)) count_minus_one <= reload ? reload_value : count_minus_one - 1'b1;
    end
endmodule

`default_nettype wire
