// Simulation model of the ECP5 DP16KD subset that hw/queue.py instantiates:
// port A writes and port B reads, through its read latch (CEB) and output
// register (OCEB, REGMODE "OUTREG"). 18-bit words: data on DIA and DOB,
// byte enables ADA0/ADA1, the address on AD*4 and up. 36-bit words (the
// pseudo dual-port mode): the low half on DIA/DOA, the high half on DIB/DOB,
// byte enables ADA0 to ADA3, the address on AD*5 and up, and port A's output
// register too. Any other use stops the simulation.
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
    input DIB0, DIB1, DIB2, DIB3, DIB4, DIB5, DIB6, DIB7, DIB8, DIB9, DIB10, DIB11, DIB12, DIB13, DIB14, DIB15, DIB16, DIB17,
    input ADA0, ADA1, ADA2, ADA3, ADA4, ADA5, ADA6, ADA7, ADA8, ADA9, ADA10, ADA11, ADA12, ADA13,
    input ADB0, ADB1, ADB2, ADB3, ADB4, ADB5, ADB6, ADB7, ADB8, ADB9, ADB10, ADB11, ADB12, ADB13,
    input CLKA, CEA, OCEA, WEA, RSTA, CSA0, CSA1, CSA2,
    input CLKB, CEB, OCEB, WEB, RSTB, CSB0, CSB1, CSB2,
    output DOA0, DOA1, DOA2, DOA3, DOA4, DOA5, DOA6, DOA7, DOA8, DOA9, DOA10, DOA11, DOA12, DOA13, DOA14, DOA15, DOA16, DOA17,
    output DOB0, DOB1, DOB2, DOB3, DOB4, DOB5, DOB6, DOB7, DOB8, DOB9, DOB10, DOB11, DOB12, DOB13, DOB14, DOB15, DOB16, DOB17
);
    localparam WIDE = DATA_WIDTH_A == 36;
    reg [35:0] mem [0:1023];
    reg [35:0] latch, out;
    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire [9:0] wa = WIDE ? {1'b0, ada[13:5]} : ada[13:4];
    wire [9:0] ra = WIDE ? {1'b0, adb[13:5]} : adb[13:4];
    wire enables_ok = WIDE ? ada[3:0] === 4'b1111 : ada[1:0] === 2'b11;
    always @(posedge CLKA) begin
        if (CEA && WEA) mem[wa] <= WIDE ? {dib, dia} : {18'b0, dia};
        if (!enables_ok || RSTA !== 1'b0 || WEB !== 1'b0 || RSTB !== 1'b0
            || !(DATA_WIDTH_A == 18 || DATA_WIDTH_A == 36) || DATA_WIDTH_B != DATA_WIDTH_A
            || REGMODE_B != "OUTREG" || (WIDE && REGMODE_A != "OUTREG")) begin
            $display("DP16KD model: unsupported configuration");
            $finish;
        end
    end
    always @(posedge CLKB) begin
        if (CEB) latch <= mem[ra];
        if (OCEB && (!WIDE || OCEA)) out <= latch;
    end
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = WIDE ? out[17:0] : 18'b0;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = WIDE ? out[35:18] : out[17:0];
endmodule
