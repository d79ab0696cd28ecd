// Simulation model of the ECP5 MULT18X18D subset that hw/systolic.py
// instantiates: signed 18x18 multiply, inputs A and B registered on CLK0
// when REG_INPUTA_CLK / REG_INPUTB_CLK are "CLK0", optional pipeline
// register, output register when REG_OUTPUT_CLK is "CLK0". CE0 = 1, RST0 = 0
// and no cascade; anything else is outside this model and stops the
// simulation, so a change of the instance cannot go unnoticed.
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE",
    parameter REG_INPUTB_CLK = "NONE",
    parameter REG_PIPELINE_CLK = "NONE",
    parameter REG_OUTPUT_CLK = "NONE",
    parameter GSR = "ENABLED",
    parameter RESETMODE = "SYNC"
) (
    input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, RST0,
    output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
    output P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34, P35
);
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    reg [17:0] a_r, b_r;
    reg [35:0] pipe_r, out_r;
    wire [17:0] a_u = (REG_INPUTA_CLK == "CLK0") ? a_r : a;
    wire [17:0] b_u = (REG_INPUTB_CLK == "CLK0") ? b_r : b;
    wire signed [35:0] prod = $signed(a_u) * $signed(b_u);
    wire [35:0] piped = (REG_PIPELINE_CLK == "CLK0") ? pipe_r : prod;
    wire [35:0] p = (REG_OUTPUT_CLK == "CLK0") ? out_r : piped;
    always @(posedge CLK0) begin
        a_r <= a;
        b_r <= b;
        pipe_r <= prod;
        out_r <= piped;
    end
    always @(posedge CLK0) begin
        if (SIGNEDA !== 1'b1 || SIGNEDB !== 1'b1 || SOURCEA !== 1'b0 || SOURCEB !== 1'b0
            || CE0 !== 1'b1 || RST0 !== 1'b0) begin
            $display("MULT18X18D model: unsupported configuration");
            $finish;
        end
    end
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
            P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
endmodule
