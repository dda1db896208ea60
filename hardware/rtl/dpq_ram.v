// Simple dual-port RAM: one write port, one registered read port (infers block RAM).
// The read register holds while read_enable is low, so a stalled pipeline keeps its data.
`default_nettype none

module dpq_ram #(
    parameter WIDTH = 32,  // bits per word
    parameter DEPTH = 256  // words
) (
    input  wire                     clk,
    input  wire                     write_enable,
    input  wire [$clog2(DEPTH)-1:0] write_address,
    input  wire [WIDTH-1:0]         write_data,
    input  wire                     read_enable,
    input  wire [$clog2(DEPTH)-1:0] read_address,
    output reg  [WIDTH-1:0]         read_data
);
    reg [WIDTH-1:0] words [0:DEPTH-1];

    always @(posedge clk) begin
        if (write_enable) words[write_address] <= write_data;
        if (read_enable) read_data <= words[read_address];
    end
endmodule

`default_nettype wire
