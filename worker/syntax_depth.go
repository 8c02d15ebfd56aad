package worker

// syntaxTooDeep scans a Lua source once, without recursion and without
// building anything, and returns the position (line and column from 1)
// where its syntactic depth first exceeds maxSyntaxDepth, or 0, 0. It runs
// before any parse, so an input built to make the parser or compiler
// recurse (a megabyte of "#", of "do", of ".x", of "elseif") is refused
// in a few milliseconds.
//
// The depth at a token is an upper bound of how deep gopher-lua's AST
// (and so its compiler's recursion) is there: every open block (function,
// do, then, repeat, and each elseif of one if, which gopher-lua nests) and
// bracket counts one, plus, at each open level, the operators (unary and
// binary) and suffixes (.x, :m, [k], (args), "str", {t}) chained in the
// expression being read there. A chain ends at what separates expressions:
// , ; = a keyword that starts or ends a statement, or a new statement
// starting right after an operand (x = a y = b). Strings, long strings and
// comments are skipped; anything malformed is left to the parser, which
// reports it with its position.
func syntaxTooDeep(src string) (line, col int) {
	sc := depthScanner{src: src, line: 1, lineStart: 0}
	return sc.run()
}

// depthFrame is one open block or bracket.
type depthFrame struct {
	bracket byte // '(', '[' or '{'; 0 for a block
	chained bool // the then of an elseif: closed by the if's end
	saved   int  // the enclosing level's chain count when it opened
}

type depthScanner struct {
	src       string
	i         int
	line      int
	lineStart int // offset of the current line's first byte

	stack   []depthFrame
	base    int  // depth of the innermost open level
	chain   int  // operators and suffixes chained at the innermost level
	operand bool // the last token ends an operand
	elseif  bool // an elseif waits for its then
	badLine int
	badCol  int
}

// add counts n more chained operators or suffixes and checks the depth at
// offset at.
func (sc *depthScanner) add(n, at int) bool {
	sc.chain += n
	return sc.check(at)
}

func (sc *depthScanner) check(at int) bool {
	if sc.base+sc.chain > maxSyntaxDepth && sc.badLine == 0 {
		sc.badLine, sc.badCol = sc.line, at-sc.lineStart+1
		return false
	}
	return true
}

// open pushes a level; keepChain says the level sits inside the current
// expression (a bracket, a function body), whose chain resumes after it.
func (sc *depthScanner) open(f depthFrame, keepChain bool, at int) bool {
	if !keepChain {
		sc.chain = 0
	}
	f.saved = sc.chain
	sc.stack = append(sc.stack, f)
	sc.base += sc.chain + 1
	sc.chain = 0
	sc.operand = false
	return sc.check(at)
}

// close pops the innermost level (a mismatch is the parser's to report).
func (sc *depthScanner) close() {
	if len(sc.stack) == 0 {
		return
	}
	f := sc.stack[len(sc.stack)-1]
	sc.stack = sc.stack[:len(sc.stack)-1]
	sc.base -= f.saved + 1
	sc.chain = f.saved
}

// closeBlock pops the levels an end closes: an if's chained elseif levels,
// then the block itself.
func (sc *depthScanner) closeBlock() {
	for len(sc.stack) > 0 && sc.stack[len(sc.stack)-1].chained {
		sc.close()
	}
	if len(sc.stack) > 0 && sc.stack[len(sc.stack)-1].bracket == 0 {
		sc.close()
	}
}

// separate ends the expression being read at the innermost level.
func (sc *depthScanner) separate() {
	sc.chain = 0
	sc.operand = false
}

func (sc *depthScanner) run() (int, int) {
	s := sc.src
	for sc.i < len(s) && sc.badLine == 0 {
		at := sc.i
		c := s[at]
		switch {
		case c == '\n':
			sc.i++
			sc.line++
			sc.lineStart = sc.i
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			sc.i++
		case c == '-' && at+1 < len(s) && s[at+1] == '-':
			sc.skipComment()
		case c == '[' && sc.longBracket(at) >= 0:
			sc.suffixOrSeparate(at)
			sc.skipLong(sc.longBracket(at))
			sc.operand = true
		case c == '"' || c == '\'':
			sc.suffixOrSeparate(at)
			sc.skipString(c)
			sc.operand = true
		case isDigit(c) || (c == '.' && at+1 < len(s) && isDigit(s[at+1])):
			if sc.operand {
				sc.separate() // a new statement
			}
			sc.skipNumber()
			sc.operand = true
		case isNameStart(c):
			sc.i++
			for sc.i < len(s) && isNameChar(s[sc.i]) {
				sc.i++
			}
			sc.name(s[at:sc.i], at)
		case c == '(' || c == '[' || c == '{':
			sc.i++
			if sc.operand {
				sc.add(1, at) // a call or index suffix
			}
			sc.open(depthFrame{bracket: c}, true, at)
		case c == ')' || c == ']' || c == '}':
			sc.i++
			if n := len(sc.stack); n > 0 && sc.stack[n-1].bracket != 0 {
				sc.close()
			}
			sc.operand = true
		case c == ',' || c == ';':
			sc.i++
			sc.separate()
		case c == '=':
			sc.i++
			if at+1 < len(s) && s[at+1] == '=' {
				sc.i++
				sc.add(1, at)
				sc.operand = false
			} else {
				sc.separate()
			}
		case c == '.':
			n := 1
			for at+n < len(s) && s[at+n] == '.' && n < 3 {
				n++
			}
			sc.i += n
			if n == 3 { // ...
				sc.operand = true
				break
			}
			sc.add(1, at) // .x suffix or .. operator
			sc.operand = false
		default: // + - * / % ^ # < > ~= <= >= : and anything else
			sc.i++
			if (c == '<' || c == '>' || c == '~') && sc.i < len(s) && s[sc.i] == '=' {
				sc.i++
			}
			sc.add(1, at)
			sc.operand = false
		}
	}
	return sc.badLine, sc.badCol
}

// suffixOrSeparate counts a string or long string after an operand as a
// call suffix (f"x", f[[x]]).
func (sc *depthScanner) suffixOrSeparate(at int) {
	if sc.operand {
		sc.add(1, at)
	}
}

// name handles a name or keyword.
func (sc *depthScanner) name(w string, at int) {
	switch w {
	case "and", "or", "not":
		sc.add(1, at)
		sc.operand = false
	case "nil", "true", "false":
		if sc.operand {
			sc.separate()
		}
		sc.operand = true
	case "function":
		// A function body sits inside the expression it is a value of.
		sc.open(depthFrame{}, true, at)
	case "do", "repeat":
		sc.open(depthFrame{}, false, at)
	case "then":
		chained := sc.elseif
		sc.elseif = false
		sc.open(depthFrame{chained: chained}, false, at)
	case "elseif":
		sc.separate()
		sc.elseif = true
	case "end":
		sc.closeBlock()
		sc.operand = true // a function expression may go on (f = function() end)
	case "until":
		sc.closeBlock()
		sc.separate()
	case "local", "return", "if", "while", "for", "in", "break", "else", "goto":
		sc.separate()
	default: // a name
		if sc.operand {
			sc.separate() // a new statement: x = a y = b
		}
		sc.operand = true
	}
}

// longBracket returns the level of a long bracket opening at i ([[, [=[,
// ...), or -1.
func (sc *depthScanner) longBracket(i int) int {
	s := sc.src
	j := i + 1
	for j < len(s) && s[j] == '=' {
		j++
	}
	if j < len(s) && s[j] == '[' {
		return j - i - 1
	}
	return -1
}

// skipLong skips a long string or comment of the given level from its
// opening bracket, counting lines.
func (sc *depthScanner) skipLong(level int) {
	s := sc.src
	sc.i += level + 2
	for sc.i < len(s) {
		c := s[sc.i]
		if c == '\n' {
			sc.i++
			sc.line++
			sc.lineStart = sc.i
			continue
		}
		if c == ']' {
			j := sc.i + 1
			for j < len(s) && s[j] == '=' {
				j++
			}
			if j < len(s) && s[j] == ']' && j-sc.i-1 == level {
				sc.i = j + 1
				return
			}
		}
		sc.i++
	}
}

// skipComment skips -- to the end of the line, or a long comment.
func (sc *depthScanner) skipComment() {
	sc.i += 2
	if sc.i < len(sc.src) && sc.src[sc.i] == '[' {
		if level := sc.longBracket(sc.i); level >= 0 {
			sc.skipLong(level)
			return
		}
	}
	for sc.i < len(sc.src) && sc.src[sc.i] != '\n' {
		sc.i++
	}
}

// skipString skips a quoted string; an unfinished one ends at the line's
// end (the parser reports it).
func (sc *depthScanner) skipString(q byte) {
	s := sc.src
	sc.i++
	for sc.i < len(s) {
		c := s[sc.i]
		switch {
		case c == q:
			sc.i++
			return
		case c == '\n':
			return
		case c == '\\' && sc.i+1 < len(s):
			if s[sc.i+1] == '\n' {
				sc.line++
				sc.lineStart = sc.i + 2
			}
			sc.i += 2
		default:
			sc.i++
		}
	}
}

// skipNumber skips a numeral, with an exponent's sign.
func (sc *depthScanner) skipNumber() {
	s := sc.src
	for sc.i < len(s) {
		c := s[sc.i]
		if isNameChar(c) || c == '.' {
			sc.i++
			continue
		}
		if (c == '+' || c == '-') && (s[sc.i-1] == 'e' || s[sc.i-1] == 'E') {
			sc.i++
			continue
		}
		return
	}
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isNameStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isNameChar(c byte) bool  { return isNameStart(c) || isDigit(c) }
