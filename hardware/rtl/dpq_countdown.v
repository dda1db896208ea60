// Down-counter over a period: steps period-1 .. 0 and wraps back on the step taken at 0. The count is
// kept minus one in a signed register one bit wider, so `at_zero` is that register's sign bit: a loop's
// "last iteration" costs no comparison, and a step is one carry chain (iCE40 Fmax).
`default_nettype none

module dpq_countdown #(
    parameter WIDTH = 16
) (
    input  wire             clk,
    input  wire             restart,          // load the period and start from its top
    input  wire [WIDTH-1:0] period_minus_one, // sampled at restart
    input  wire             tick,             // an event that may step the counter ...
    input  wire             advance,          // ... and whether it does (kept apart: shallower enables)
    output wire             at_zero
);
    reg [WIDTH:0] count_minus_one, top_minus_one;  // two's complement; -1 means the count is 0
    assign at_zero = count_minus_one[WIDTH];

    wire [WIDTH:0] period_minus_two = {1'b0, period_minus_one} - 1'b1;
    always @(posedge clk) begin
        if (restart) begin
            top_minus_one <= period_minus_two;
            count_minus_one <= period_minus_two;
        end else if (tick && advance) begin
            count_minus_one <= at_zero ? top_minus_one : count_minus_one - 1'b1;
        end
    end
endmodule

`default_nettype wire
