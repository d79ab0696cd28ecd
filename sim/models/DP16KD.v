// Simulation model of the ECP5 DP16KD subset that hw/queue.py instantiates:
// 18-bit words, port A writes (WEA, byte enables ADA0/ADA1 both set), port B
// reads through its read latch (CEB) and output register (OCEB,
// REGMODE_B = "OUTREG"). Any other use stops the simulation.
module DP16KD #(
    parameter DATA_WIDTH_A = 18,
    parameter DATA_WIDTH_B = 18,
    parameter REGMODE_A = "NOREG",
    parameter REGMODE_B = "NOREG",
    parameter WRITEMODE_A = "NORMAL",
    parameter WRITEMODE_B = "NORMAL",
    parameter RESETMODE = "SYNC",
    parameter GSR = "ENABLED"
) (
    input DIA0, DIA1, DIA2, DIA3, DIA4, DIA5, DIA6, DIA7, DIA8, DIA9, DIA10, DIA11, DIA12, DIA13, DIA14, DIA15, DIA16, DIA17,
    input ADA0, ADA1, ADA2, ADA3, ADA4, ADA5, ADA6, ADA7, ADA8, ADA9, ADA10, ADA11, ADA12, ADA13,
    input ADB0, ADB1, ADB2, ADB3, ADB4, ADB5, ADB6, ADB7, ADB8, ADB9, ADB10, ADB11, ADB12, ADB13,
    input CLKA, CEA, OCEA, WEA, RSTA, CSA0, CSA1, CSA2,
    input CLKB, CEB, OCEB, WEB, RSTB, CSB0, CSB1, CSB2,
    output DOB0, DOB1, DOB2, DOB3, DOB4, DOB5, DOB6, DOB7, DOB8, DOB9, DOB10, DOB11, DOB12, DOB13, DOB14, DOB15, DOB16, DOB17
);
    reg [17:0] mem [0:1023];
    reg [17:0] latch, out;
    wire [17:0] di = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [9:0] wa = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4};
    wire [9:0] ra = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4};
    always @(posedge CLKA) begin
        if (CEA && WEA) mem[wa] <= di;
        if (ADA0 !== 1'b1 || ADA1 !== 1'b1 || RSTA !== 1'b0 || WEB !== 1'b0 || RSTB !== 1'b0
            || DATA_WIDTH_A != 18 || DATA_WIDTH_B != 18 || REGMODE_B != "OUTREG") begin
            $display("DP16KD model: unsupported configuration");
            $finish;
        end
    end
    always @(posedge CLKB) begin
        if (CEB) latch <= mem[ra];
        if (OCEB) out <= latch;
    end
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = out;
endmodule
