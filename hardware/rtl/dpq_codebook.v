// The layer's codebook: 2^INDEX_BITS signed fixed-point centroids, written by the host before a layer
// runs, with one synchronous read port per lane of the array (a copy per lane: each copy is one block
// RAM on iCE40 or a few LUT RAMs on Xilinx, and the lookup costs no logic between the index memory and
// the multipliers). Entries the host did not write read as undefined: write all 2^INDEX_BITS entries
// (zeros past the codebook) when the centroid mode, which reads every entry, is used.
`default_nettype none

module dpq_codebook #(
    parameter INDEX_BITS    = 4,  // log2 of the number of entries (1..8)
    parameter CODEBOOK_BITS = 8,  // bits per centroid (signed)
    parameter LANES         = 1   // read ports
) (
    input  wire                           clk,
    input  wire                           write_enable,
    input  wire [INDEX_BITS-1:0]          write_address,
    input  wire [CODEBOOK_BITS-1:0]       write_data,
    input  wire                           read_enable,   // holds the read registers while low
    input  wire [LANES*INDEX_BITS-1:0]    read_indices,  // lane l at [l*INDEX_BITS +: INDEX_BITS]
    output wire [LANES*CODEBOOK_BITS-1:0] read_values    // lane l at [l*CODEBOOK_BITS +: CODEBOOK_BITS]
);
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : lane
            (* ram_style = "block" *) reg [CODEBOOK_BITS-1:0] entries [0:(1<<INDEX_BITS)-1];
            reg [CODEBOOK_BITS-1:0] value;
            always @(posedge clk) begin
                if (write_enable) entries[write_address] <= write_data;
                if (read_enable) value <= entries[read_indices[l*INDEX_BITS +: INDEX_BITS]];
            end
            assign read_values[l*CODEBOOK_BITS +: CODEBOOK_BITS] = value;
        end
    endgenerate
endmodule

`default_nettype wire
