// The layer's codebook: 2^INDEX_BITS signed fixed-point centroids in registers, written by the
// host before a layer runs. All entries are exposed as one flat bus so that every lane of the
// array can look its index up in the same cycle (the lookup sits at the edge of the array). Reset clears
// every entry: a codebook smaller than 2^INDEX_BITS leaves zeros behind (the centroid mode drains them all).
`default_nettype none

module dpq_codebook #(
    parameter INDEX_BITS    = 4,  // log2 of the number of entries (1..8)
    parameter CODEBOOK_BITS = 8   // bits per centroid (signed)
) (
    input  wire                                    clk,
    input  wire                                    rst,
    input  wire                                    write_enable,
    input  wire [INDEX_BITS-1:0]                   write_address,
    input  wire [CODEBOOK_BITS-1:0]                write_data,
    output wire [(1<<INDEX_BITS)*CODEBOOK_BITS-1:0] entries  // entry e at [e*CODEBOOK_BITS +: CODEBOOK_BITS]
);
    localparam ENTRIES = 1 << INDEX_BITS;

    genvar e;
    generate
        for (e = 0; e < ENTRIES; e = e + 1) begin : entry
            reg [CODEBOOK_BITS-1:0] value;
            always @(posedge clk) begin
                if (rst) value <= {CODEBOOK_BITS{1'b0}};
                else if (write_enable && write_address == e) value <= write_data;
            end
            assign entries[e*CODEBOOK_BITS +: CODEBOOK_BITS] = value;
        end
    endgenerate
endmodule

`default_nettype wire
