package elasticsearch

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// A document whose new field gets two types in the document itself
// ({"n":[1,"x"]} while n is not mapped yet) is rejected with
//
//	mapper [n] cannot be changed from type [double] to [keyword]
//
// The mapping of the logs templates cannot prevent that (the field's type is
// chosen from its first value). Such an item is sent once more with the
// top-level member holding the field replaced by "<member>_original" whose
// value is the member's JSON text as a string (mapped keyword by the
// templates, so always accepted), and "field_renamed" added to log.flags:
// the line is indexed, the odd member kept whole. See docs/documents.md.
var typeConflict = regexp.MustCompile(`^mapper \[([^\]]+)\] cannot be changed from type \[`)

// conflictRetry returns the document to send instead of doc, rejected with
// reason, or false when reason is not an in-document type conflict or doc
// cannot be rewritten (then it is dead-lettered as before). Rare path: it
// decodes the document.
func conflictRetry(doc []byte, reason string) ([]byte, bool) {
	m := typeConflict.FindStringSubmatch(reason)
	if m == nil {
		return nil, false
	}
	field := m[1]
	type member struct {
		name  string
		value json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []member
	names := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, member{name, v})
		names[name] = true
	}
	// The member that holds the field: its name is the field's path or
	// the longest prefix of it ending at a dot.
	at := -1
	for i, mb := range ms {
		if (field == mb.name || strings.HasPrefix(field, mb.name+".")) && (at < 0 || len(mb.name) > len(ms[at].name)) {
			at = i
		}
	}
	if at < 0 || names[ms[at].name+"_original"] {
		return nil, false
	}
	var out bytes.Buffer
	out.WriteByte('{')
	flagged := false
	for i, mb := range ms {
		if i > 0 {
			out.WriteByte(',')
		}
		switch {
		case i == at:
			k, _ := json.Marshal(mb.name + "_original")
			v, _ := json.Marshal(string(mb.value))
			out.Write(k)
			out.WriteByte(':')
			out.Write(v)
			continue
		case mb.name == "log.flags":
			var flags []string
			if json.Unmarshal(mb.value, &flags) == nil {
				flags = append(flags, "field_renamed")
				v, _ := json.Marshal(flags)
				out.WriteString(`"log.flags":`)
				out.Write(v)
				flagged = true
				continue
			}
		}
		k, _ := json.Marshal(mb.name)
		out.Write(k)
		out.WriteByte(':')
		out.Write(mb.value)
	}
	if !flagged && !names["log.flags"] {
		out.WriteString(`,"log.flags":["field_renamed"]`)
	}
	out.WriteString("}\n")
	return out.Bytes(), true
}
