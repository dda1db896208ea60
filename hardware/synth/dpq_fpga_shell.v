// Place-and-route wrapper of dpq_accel for a small FPGA package: the accelerator's wide ports would need
// hundreds of pins, so every input comes from a serially loaded register and every output is registered
// and read back a byte at a time. Only used to measure post-route Fmax and fit (hardware/scripts/synth.py);
// the shell's registers are the only logic it adds.
`default_nettype none

module dpq_fpga_shell #(
    parameter ROWS          = 2,
    parameter COLS          = 4,
    parameter INDEX_BITS    = 4,
    parameter CODEBOOK_BITS = 8,
    parameter ACT_BITS      = 8,
    parameter ACC_BITS      = 32,
    parameter SHAPE_BITS    = 16,
    parameter INDEX_DEPTH   = 1024,
    parameter COLUMN_TILES  = 64,
    parameter MODE          = 0
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       serial_in,  // shifted into the input register while shift is high
    input  wire       shift,
    input  wire [5:0] select,     // output byte to show
    output reg  [7:0] probe
);
    localparam INDEX_ADDRESS_BITS = $clog2(INDEX_DEPTH);
    // the serial input register, field by field from bit 0: five strobes, then the data ports
    localparam CODEBOOK_ADDRESS_AT = 5;
    localparam CODEBOOK_DATA_AT    = CODEBOOK_ADDRESS_AT + INDEX_BITS;
    localparam INDEX_ADDRESS_AT    = CODEBOOK_DATA_AT + CODEBOOK_BITS;
    localparam INDEX_DATA_AT       = INDEX_ADDRESS_AT + INDEX_ADDRESS_BITS;
    localparam ROWS_AT             = INDEX_DATA_AT + ROWS*COLS*INDEX_BITS;
    localparam COLUMNS_AT          = ROWS_AT + SHAPE_BITS;
    localparam VECTORS_AT          = COLUMNS_AT + SHAPE_BITS;
    localparam IN_DATA_AT          = VECTORS_AT + SHAPE_BITS;
    localparam IN_BITS             = IN_DATA_AT + COLS*ACT_BITS;
    localparam OUT_BITS = 5 + ROWS*ACC_BITS;
    localparam OUT_BYTES = (OUT_BITS + 7) / 8;

    reg [IN_BITS-1:0] chain, inputs;
    reg               rst_r;
    always @(posedge clk) begin
        rst_r <= rst;
        if (shift) chain <= {chain[IN_BITS-2:0], serial_in};
        // applied once shifting stops; the five strobes (start, in_valid, out_ready, writes) held low meanwhile
        inputs <= shift ? {chain[IN_BITS-1:5], 5'b0} : chain;
    end

    wire                          busy, done, in_ready, out_valid, out_last;
    wire [ROWS*ACC_BITS-1:0]      out_data;
    dpq_accel #(
        .ROWS(ROWS), .COLS(COLS), .INDEX_BITS(INDEX_BITS), .CODEBOOK_BITS(CODEBOOK_BITS), .ACT_BITS(ACT_BITS),
        .ACC_BITS(ACC_BITS), .SHAPE_BITS(SHAPE_BITS), .INDEX_DEPTH(INDEX_DEPTH), .COLUMN_TILES(COLUMN_TILES),
        .MODE(MODE)
    ) accelerator (
        .clk(clk), .rst(rst_r),
        .start(inputs[0]), .in_valid(inputs[1]), .out_ready(inputs[2]),
        .codebook_write(inputs[3]), .index_write(inputs[4]),
        .codebook_address(inputs[CODEBOOK_ADDRESS_AT +: INDEX_BITS]),
        .codebook_data(inputs[CODEBOOK_DATA_AT +: CODEBOOK_BITS]),
        .index_address(inputs[INDEX_ADDRESS_AT +: INDEX_ADDRESS_BITS]),
        .index_data(inputs[INDEX_DATA_AT +: ROWS*COLS*INDEX_BITS]),
        .rows(inputs[ROWS_AT +: SHAPE_BITS]),
        .columns(inputs[COLUMNS_AT +: SHAPE_BITS]),
        .vectors(inputs[VECTORS_AT +: SHAPE_BITS]),
        .in_data(inputs[IN_DATA_AT +: COLS*ACT_BITS]),
        .busy(busy), .done(done), .in_ready(in_ready), .out_valid(out_valid), .out_data(out_data),
        .out_last(out_last)
    );

    reg [8*OUT_BYTES-1:0] outputs;
    reg [5:0]             select_r;
    always @(posedge clk) begin
        outputs <= {{(8*OUT_BYTES-OUT_BITS){1'b0}}, out_data, out_last, out_valid, in_ready, done, busy};
        select_r <= select;
        probe <= outputs[select_r*8 +: 8];
    end
endmodule

`default_nettype wire
