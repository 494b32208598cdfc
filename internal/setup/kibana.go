package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"shipper/kibana"
)

// importPath returns the saved objects import path for space ("" and
// "default" are the default space). overwrite=true replaces objects with
// the same id, which makes the import idempotent.
func importPath(space string) string {
	p := "/api/saved_objects/_import?overwrite=true"
	if space != "" && space != "default" {
		p = "/s/" + url.PathEscape(space) + p
	}
	return p
}

// importBody returns the multipart/form-data body Kibana's import expects:
// one part named "file", filename shipper.ndjson, content type
// application/ndjson, holding ndjson.
func importBody(ndjson []byte) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+kibana.FileName+`"`)
	h.Set("Content-Type", "application/ndjson")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(ndjson); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// importResult is Kibana's answer to an import. Kibana answers HTTP 200
// even when objects failed: success is false then, and errors says why.
type importResult struct {
	Success      *bool          `json:"success"`
	SuccessCount int            `json:"successCount"`
	Errors       []importFailed `json:"errors"`
}

type importFailed struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Title string `json:"title"`
	Meta  struct {
		Title string `json:"title"`
	} `json:"meta"`
	Error struct {
		Type       string `json:"type"`
		Message    string `json:"message"`
		StatusCode int    `json:"statusCode"`
		References []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"references"`
		DestinationID string `json:"destinationId"`
	} `json:"error"`
}

// Failure is one saved object Kibana did not import.
type Failure struct {
	Type, ID, Title string
	// Kind is Kibana's error type: conflict, ambiguous_conflict,
	// missing_references, unsupported_type or unknown.
	Kind string
	// Reason says what happened and what to do about it.
	Reason string
}

// ImportError is returned when Kibana answered the import but did not
// import every object.
type ImportError struct {
	Kibana   string // base URL
	Imported int    // objects imported
	Failures []Failure
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Kibana at %s imported %d saved objects but refused %d:", e.Kibana, e.Imported, len(e.Failures))
	for _, f := range e.Failures {
		title := ""
		if f.Title != "" {
			title = fmt.Sprintf(" (%q)", f.Title)
		}
		fmt.Fprintf(&b, "\n  %s %s%s: %s", f.Type, f.ID, title, f.Reason)
	}
	return b.String()
}

func failureOf(f importFailed) Failure {
	title := f.Title
	if title == "" {
		title = f.Meta.Title
	}
	out := Failure{Type: f.Type, ID: f.ID, Title: title, Kind: f.Error.Type}
	switch f.Error.Type {
	case "missing_references":
		var refs []string
		for _, r := range f.Error.References {
			refs = append(refs, r.Type+"/"+r.ID)
		}
		out.Reason = "missing_references: it refers to " + strings.Join(refs, ", ") +
			", which is neither in " + kibana.FileName + " nor in Kibana"
	case "conflict":
		out.Reason = "conflict: an object with this id already exists and was not overwritten"
		if f.Error.DestinationID != "" {
			out.Reason += " (destination " + f.Error.DestinationID + ")"
		}
		out.Reason += "; it may belong to another space: delete it there, or import into that space with --kibana-space"
	case "ambiguous_conflict":
		out.Reason = "ambiguous_conflict: several existing objects match it; delete the duplicates in Kibana, then run setup again"
	case "unsupported_type":
		out.Reason = "unsupported_type: this Kibana does not know the type " + f.Type + " (older than 8.9, or the plugin is disabled)"
	default:
		kind := f.Error.Type
		if kind == "" {
			kind = "unknown"
		}
		out.Kind = kind
		out.Reason = kind + ": " + f.Error.Message
		if f.Error.Message == "" {
			out.Reason = kind + ": Kibana gave no reason"
		}
		if f.Error.StatusCode != 0 {
			out.Reason += fmt.Sprintf(" (HTTP %d)", f.Error.StatusCode)
		}
	}
	return out
}

// importSavedObjects posts the embedded saved objects to Kibana's import
// API in space and checks every object was imported.
func importSavedObjects(ctx context.Context, kb *service, space string) error {
	body, ctype, err := importBody(kibana.SavedObjects())
	if err != nil {
		return fmt.Errorf("cannot build the Kibana import request: %w", err)
	}
	path := importPath(space)
	res, err := kb.do(ctx, http.MethodPost, path, ctype, body, http.Header{"Kbn-Xsrf": {"true"}})
	if err != nil {
		return fmt.Errorf("cannot import the Kibana saved objects: %w", err)
	}
	switch {
	case res.status == http.StatusOK:
	case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		return kb.authError(res, "import saved objects")
	case res.status == http.StatusNotFound && space != "" && space != "default":
		return fmt.Errorf("Kibana at %s answered 404 to POST %s: does the space %q exist? (check --kibana-space): %s",
			kb.base, path, space, kb.reason(res.body))
	case res.status == http.StatusNotFound:
		return fmt.Errorf("Kibana at %s answered 404 to POST %s: is %s the Kibana URL (with its base path, if any)? check %s: %s",
			kb.base, path, kb.base, kb.urlSetting, kb.reason(res.body))
	case res.status == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("Kibana at %s refused the import as too large (HTTP 413): raise savedObjects.maxImportPayloadBytes in kibana.yml: %s",
			kb.base, kb.reason(res.body))
	default:
		return fmt.Errorf("Kibana at %s refused the import (POST %s): HTTP %d: %s", kb.base, path, res.status, kb.reason(res.body))
	}

	var r importResult
	if err := json.Unmarshal(res.body, &r); err != nil || r.Success == nil {
		return fmt.Errorf("Kibana at %s answered the import with HTTP 200 but not with an import result (is %s really Kibana?): %s",
			kb.base, kb.base, excerpt(res.body))
	}
	if !*r.Success || len(r.Errors) > 0 {
		e := &ImportError{Kibana: kb.base, Imported: r.SuccessCount}
		for _, f := range r.Errors {
			e.Failures = append(e.Failures, failureOf(f))
		}
		if len(e.Failures) == 0 {
			e.Failures = append(e.Failures, Failure{Type: "?", ID: "?", Kind: "unknown", Reason: "Kibana reported success:false without errors"})
		}
		return e
	}
	spaceName := space
	if spaceName == "" {
		spaceName = "default"
	}
	kb.log.Info().Int("objects", r.SuccessCount).Str("kibana.space", spaceName).
		Msgf("imported %d Kibana saved objects into space %s at %s", r.SuccessCount, spaceName, kb.base)
	return nil
}
