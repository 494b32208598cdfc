//go:build !purego

#include "textflag.h"

// MARKS64 sets AX to the marks of the 64 bytes in Y3 (low half) and Y4:
// bit k for a '"' (Y0) or '\\' (Y1) at byte k. It uses Y5 to Y8 and BX.
#define MARKS64 \
	VPCMPEQB  Y0, Y3, Y5; \
	VPCMPEQB  Y1, Y3, Y6; \
	VPOR      Y5, Y6, Y5; \
	VPMOVMSKB Y5, AX; \
	VPCMPEQB  Y0, Y4, Y7; \
	VPCMPEQB  Y1, Y4, Y8; \
	VPOR      Y7, Y8, Y7; \
	VPMOVMSKB Y7, BX; \
	SHLQ      $32, BX; \
	ORQ       BX, AX

// PACK16 stores at DI the bytes of the 16 in data whose bits are set in
// the low 16 bits of AX, moves DI on by their count and AX on to the next
// 16 bits. One shuffle packs each eight, with the positions from the table
// at R10 indexed by their eight bits, read from AL and AH (its second part
// has the positions of the upper eight, its third the counts: an ADD from
// memory, not a POPCNT and an ADD). It uses BX, CX, X5 and X6. (The bits
// stored in a local and read back a byte at a time took fewer instructions
// but more time: a byte load from inside a wider store that has not
// reached the cache waits for it.)
#define PACK16(data) \
	MOVBLZX AL, BX; \
	MOVBLZX AH, CX; \
	SHRQ    $16, AX; \
	VMOVQ   (R10)(BX*8), X5; \
	VPINSRQ $1, 2048(R10)(CX*8), X5, X5; \
	VPSHUFB X5, data, X6; \
	VMOVQ   X6, (DI); \
	ADDQ    4096(R10)(BX*8), DI; \
	VPEXTRQ $1, X6, (DI); \
	ADDQ    4096(R10)(CX*8), DI

// PACK64SHUF is PACK16 for the 64 bytes at DX, the bits of the bytes kept
// in R11, bytes 0 and 32 taken from Y3 and Y4, where the block was loaded.
// It uses AX too. It is 43 instructions long (PACK64 jumps over it).
#define PACK64SHUF \
	MOVQ    R11, AX; \
	PACK16(X3); \
	VMOVDQU 16(DX), X6; \
	PACK16(X6); \
	PACK16(X4); \
	VMOVDQU 48(DX), X6; \
	PACK16(X6)

// PACK64 stores at DI the bytes of the 64 at DX whose bits are set in R11,
// and moves DI on by their count. With AVX-512 VBMI2 (useVBMI2) one
// VPCOMPRESSB packs them (K1, Z5, Z6), else PACK64SHUF does with eight
// shuffles, whose eight additions to DI from its table wait for each other.
// It uses AX, BX, CX, X5 and X6 (the lower halves of Z5 and Z6). The
// jumps count instructions: 8(PC) is PACK64SHUF's first, 44(PC) the one
// after it.
#define PACK64 \
	CMPB        ·useVBMI2(SB), $0; \
	JEQ         8(PC); \
	KMOVQ       R11, K1; \
	VMOVDQU8    (DX), Z5; \
	VPCOMPRESSB Z5, K1, Z6; \
	VMOVDQU8    Z6, (DI); \
	POPCNTQ     R11, AX; \
	ADDQ        AX, DI; \
	JMP         44(PC); \
	PACK64SHUF

// func unescapeRunAVX2(out, b []byte, w, j int) (wn, jn int)
//
// Three phases, each going on from where the one before stopped:
//   - blocks of 64 bytes while 64 are left: in a plain block, whose escapes
//     are \" and \\ (and, in the block of the closing quote, one \n; one
//     across its end too), the bytes but the backslashes of the escapes
//     are packed (PACK64: one VPCOMPRESSB with VBMI2, else shuffles);
//     in another block, while 128 bytes are left, the '"' and '\\' are
//     marked in a word, and the loop goes from mark to mark, copying the 64
//     bytes from the last position whatever they hold; the count of
//     trailing zeros of the word is how far it moves on;
//   - steps of 64 bytes from j while 64 are left, each marking the bytes
//     it copies: the next step waits for the marks of the one before;
//   - the same with 32 bytes while 32 are left.
// An escape at a mark is decoded through the table unescapes. The branches
// on the data are taken at the end of a block, at the end of the string, or
// at an escape the loop leaves to the Go code: none at each escape.
//
// Only VEX-encoded instructions, and PACK64's EVEX ones with VBMI2: on the
// benchmark machine a legacy-SSE instruction after a VEX one that leaves
// the upper halves dirty costs about 500 ns per call (see
// internal/parse/stops_amd64.s). VZEROUPPER leaves them clean (of Z0 to
// Z15 too) for the Go code that follows.
TEXT ·unescapeRunAVX2(SB), NOSPLIT, $0-80
	MOVQ out_base+0(FP), DI
	MOVQ b_base+24(FP), SI
	MOVQ b_len+32(FP), R8
	MOVQ w+48(FP), AX
	MOVQ j+56(FP), BX
	LEAQ -64(SI)(R8*1), R8    // &b[n-64]: the last j of a step
	ADDQ AX, DI
	ADDQ BX, SI
	LEAQ ·packShuffle(SB), R10 // the table of PACK16
	MOVQ $0xaaaaaaaaaaaaaaaa, R13 // the odd bits

	MOVL $0x22, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y0 // '"'
	MOVL $0x5c, AX
	VMOVD AX, X1
	VPBROADCASTB X1, Y1 // '\\'
	MOVL $0x6e, AX
	VMOVD AX, X13
	VPBROADCASTB X13, Y13 // 'n'

	// Blocks of 64 bytes at DX, while 64 bytes are left from DX, or 128
	// for a block that is not plain (the copies read up to 64 bytes from
	// any mark of the block). The marks of a block do not depend on the
	// escapes of the one before, so that the processor loads and marks
	// blocks ahead; from mark to mark, only the mark word and the
	// positions depend on each other.
	MOVQ SI, DX
block:
	CMPQ      DX, R8
	JHI       tail
plainnext:
	VMOVDQU   (DX), Y3
	VMOVDQU   32(DX), Y4
	VPCMPEQB  Y0, Y3, Y5
	VPCMPEQB  Y0, Y4, Y6
	VPCMPEQB  Y1, Y3, Y7
	VPCMPEQB  Y1, Y4, Y8
	VPMOVMSKB Y5, AX
	VPMOVMSKB Y6, BX
	SHLQ      $32, BX
	ORQ       BX, AX           // AX: the '"'
	VPMOVMSKB Y7, R14
	VPMOVMSKB Y8, BX
	SHLQ      $32, BX
	ORQ       BX, R14          // R14: the '\\'
	MOVQ      R14, R12
	ORQ       AX, R12          // R12: the '"' and '\\'
	// SI is DX, or DX+1 after an escape across the blocks' edge: then
	// byte 0, decoded already, is escaped (CX = 1).
	MOVQ      SI, CX
	SUBQ      DX, CX
	// The backslashes that start an escape (R11) and the bytes they
	// escape (BX): in a run of backslashes, every other one starts an
	// escape, from the first; the odd bits make the subtraction carry
	// the parity of where a run starts (as simdjson does).
	ANDNQ     R14, CX, BX      // backslashes not escaped by the block before
	LEAQ      (BX)(BX*1), R11
	ORQ       R13, R11
	SUBQ      BX, R11
	XORQ      R13, R11
	MOVQ      R14, BX
	ORQ       CX, BX
	XORQ      R11, BX          // BX: the escaped bytes
	ANDQ      R14, R11         // R11: the backslashes starting an escape
	// The block is plain when each escape is \" or \\ (the escape
	// drops its backslash), and no '"' closes the string in it; an
	// escape across its end is looked at in plainedge. (\/ drops its
	// backslash too, but Docker never writes it: not worth the compares of
	// every block.)
	ANDNQ     BX, CX, R9
	ANDNQ     R9, R12, R9      // escaped bytes other than '"', '\\'
	ANDNQ     AX, BX, R14      // '"' not escaped
	ORQ       R14, R9
	JNZ       notplain
	BTQ       $63, R11
	JCS       plainedge        // an escape across the edge
	// Plain block: keep the bytes but the backslashes of escapes (and
	// byte 0 when decoded already), sixteen at a time, packed by a shuffle
	// from the table packShuffle indexed by the eight bits of the bytes
	// kept.
	ORQ       CX, R11
	NOTQ      R11
	PACK64
	ADDQ      $64, DX
	MOVQ      DX, SI
	CMPQ      DX, R8
	JLS       plainnext      // the loop's test at its end: one jump less
	JMP       tail

plainedge:
	// The block is plain but for its last byte, a backslash whose escape
	// is byte 0 of the next block (one block in nine of escaped JSON):
	// when that byte is there and is a '"' or '\', the block is packed,
	// the escaped byte stored after it, and the next block starts with
	// its byte 0 decoded already (SI = DX+1), as after the mark loop.
	CMPQ      DX, R8
	JEQ       notplain         // no byte after the block
	MOVBLZX   64(DX), R14
	CMPB      R14, $0x22
	JEQ       plainedgepack
	CMPB      R14, $0x5c
	JNE       notplain
plainedgepack:
	ORQ       CX, R11
	NOTQ      R11
	PACK64
	MOVB      R14, (DI)
	INCQ      DI
	ADDQ      $64, DX
	LEAQ      1(DX), SI
	CMPQ      DX, R8
	JLS       plainnext
	JMP       tail

notplain:
	// The last block of the string, with the closing quote (the first '"'
	// not escaped, AX), is packed the same way up to the quote when its
	// escapes before it are \" or \\, but for at most one \n (the
	// newline that ends the json-file "log" value): the '\n' is then
	// stored over its 'n'. Else the loop goes from mark to mark.
	ANDNQ     AX, BX, AX
	JZ        marks
	LEAQ      -1(AX), R14
	ANDNQ     R14, AX, R14     // R14: the bytes before the quote
	ANDNQ     BX, CX, BX
	ANDQ      R14, BX
	ANDNQ     BX, R12, BX      // their escaped bytes but '"', '\\'
	VPCMPEQB  Y13, Y3, Y11
	VPCMPEQB  Y13, Y4, Y12
	VPMOVMSKB Y11, R12
	VPMOVMSKB Y12, R9
	SHLQ      $32, R9
	ORQ       R9, R12
	ANDQ      BX, R12          // R12: the escaped 'n'
	ANDNQ     BX, R12, BX      // others
	BLSRQ     R12, R9          // a second \n
	ORQ       R9, BX
	JNZ       marks
	ORQ       CX, R11
	ANDNQ     R14, R11, R11    // R11: the bytes kept
	LEAQ      -1(R12), R9
	ANDQ      R11, R9
	POPCNTQ   R9, R9
	ADDQ      DI, R9           // R9: where the '\n' goes, or past the end
	TZCNTQ    AX, SI
	ADDQ      DX, SI           // the closing quote
	PACK64
	MOVB      $0x0a, (R9)
	JMP       done

marks:
	// The copies from a mark read up to 64 bytes past it: marks only
	// while 128 bytes are left from DX.
	LEAQ      64(DX), BX
	CMPQ      BX, R8
	JHI       tail
	// AX: the marks of the '"' and '\\', but that of byte 0 when
	// decoded already.
	VPOR      Y5, Y7, Y5
	VPOR      Y6, Y8, Y6
	VPMOVMSKB Y5, AX
	VPMOVMSKB Y6, BX
	SHLQ      $32, BX
	ORQ       BX, AX
	SHRQ      CX, AX
	SHLQ      CX, AX
	LEAQ      ·unescapes(SB), R12

mark:
	TZCNTQ    AX, CX
	JCS       blockend       // no mark left
	LEAQ      (DX)(CX*1), BX // the mark
	VMOVDQU   (SI), Y5
	VMOVDQU   32(SI), Y6
	VMOVDQU   Y5, (DI)
	VMOVDQU   Y6, 32(DI)
	ADDQ      BX, DI
	SUBQ      SI, DI
	MOVQ      BX, SI
	CMPB      (BX), $0x22
	JEQ       done           // the closing quote
	MOVBLZX   1(BX), BX
	MOVBLZX   (R12)(BX*1), BX
	TESTB     BL, BL
	JZ        done           // \u or an invalid escape
	MOVB      BL, (DI)
	INCQ      DI
	ADDQ      $2, SI
	// Drop the mark of the backslash and that of the escaped byte (a
	// '"' or '\\'; it is in the next block after bit 63): the next
	// marks wait for these three instructions only.
	BLSIQ     AX, BX
	LEAQ      (BX)(BX*2), BX
	ANDNQ     AX, BX, AX
	JMP       mark

blockend:
	// Copy what is left of the block, if anything: SI is past its end
	// after an escape across the edge.
	ADDQ      $64, DX
	MOVQ      DX, CX
	SUBQ      SI, CX
	JLE       block
	VMOVDQU   (SI), Y5
	VMOVDQU   32(SI), Y6
	VMOVDQU   Y5, (DI)
	VMOVDQU   Y6, 32(DI)
	ADDQ      CX, DI
	MOVQ      DX, SI
	JMP       block

	// Fewer than 128 bytes left: steps of 64 bytes from SI while they
	// fit, each waiting for the marks of the one before.
tail:
	LEAQ      ·unescapes(SB), R10
	MOVQ      b_base+24(FP), R13
	ADDQ      b_len+32(FP), R13
	LEAQ      -1(R13), R9     // &b[n-1]: an escape needs a byte after it
	SUBQ      $32, R13        // &b[n-32]: the last j of a short step
loop:
	CMPQ      SI, R8
	JHI       short
	VMOVDQU   (SI), Y3
	VMOVDQU   32(SI), Y4
	VMOVDQU   Y3, (DI)
	VMOVDQU   Y4, 32(DI)
	MARKS64
	BSFQ      AX, CX
	JZ        clean
	ADDQ      CX, SI
	ADDQ      CX, DI
	CMPB      (SI), $0x22
	JEQ       done        // the closing quote
	CMPQ      SI, R9
	JHS       done        // a backslash at the end of b
	MOVBLZX   1(SI), AX
	MOVBLZX   (R10)(AX*1), AX
	TESTB     AL, AL
	JZ        done        // \u or an invalid escape
	MOVB      AL, (DI)
	ADDQ      $2, SI
	INCQ      DI
	JMP       loop

clean:
	ADDQ      $64, SI
	ADDQ      $64, DI
	JMP       loop

	// Fewer than 64 bytes left: steps of 32 while they fit.
short:
	CMPQ      SI, R13
	JHI       done
	VMOVDQU   (SI), Y3
	VMOVDQU   Y3, (DI)
	VPCMPEQB  Y0, Y3, Y5
	VPCMPEQB  Y1, Y3, Y6
	VPOR      Y5, Y6, Y5
	VPMOVMSKB Y5, AX
	BSFL      AX, CX
	JZ        shortclean
	ADDQ      CX, SI
	ADDQ      CX, DI
	CMPB      (SI), $0x22
	JEQ       done
	CMPQ      SI, R9
	JHS       done
	MOVBLZX   1(SI), AX
	MOVBLZX   (R10)(AX*1), AX
	TESTB     AL, AL
	JZ        done
	MOVB      AL, (DI)
	ADDQ      $2, SI
	INCQ      DI
	JMP       short

shortclean:
	ADDQ      $32, SI
	ADDQ      $32, DI
	JMP       short

done:
	VZEROUPPER
	SUBQ      out_base+0(FP), DI
	SUBQ      b_base+24(FP), SI
	MOVQ      DI, wn+64(FP)
	MOVQ      SI, jn+72(FP)
	RET
