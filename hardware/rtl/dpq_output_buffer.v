// Two-entry output FIFO with a registered `room` flag. The array's pipeline advances while `room` is set;
// because `room` is a register (not a function of out_ready) the stall reaches no flip-flop through logic
// from the output port, and the second entry takes the one result that can still arrive in the cycle
// after the FIFO filled. A sink that is always ready never stalls the pipeline.
//
// Entries shift on a push (slot1 <= slot0 <= push_data) and the oldest is read at slot[count - 1], so both
// slots load on the one `push` net and a pop only moves the count: no logic from out_ready reaches the
// slots' enables (iCE40 Fmax).
`default_nettype none

module dpq_output_buffer #(
    parameter WIDTH = 32
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             push,       // never while the FIFO is full (the pipeline stalls on `room`)
    input  wire [WIDTH-1:0] push_data,
    output reg              room,       // a push next cycle fits, whatever the sink does
    output wire             room_next,  // what `room` becomes at this edge (for registers that need it early)
    output wire             out_valid,
    input  wire             out_ready,
    output wire [WIDTH-1:0] out_data
);
    reg [WIDTH-1:0] slot0, slot1;
    reg [1:0]       count;

    wire       pop = out_ready && count != 2'd0;
    wire [1:0] next_count = count + {1'b0, push} - {1'b0, pop};
    assign out_valid = count != 2'd0;
    assign room_next = rst || next_count != 2'd2;
    assign out_data = count[1] ? slot1 : slot0;

    always @(posedge clk) begin
        if (rst) begin
            count <= 2'd0;
            room <= 1'b1;
        end else begin
            count <= next_count;
            room <= room_next;
        end
        if (push) begin
            slot0 <= push_data;
            slot1 <= slot0;
        end
    end
endmodule

`default_nettype wire
