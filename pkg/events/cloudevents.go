package events

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/valyala/fastjson"
)

// CloudEvents (CNCF, specification 1.0) carry cxpulse events this way:
//
//	id                   → id
//	type                 com.cxpulse.<event type>, e.g. com.cxpulse.survey.response
//	time                 → occurred_at (required: cxpulse counts by event time)
//	source               → attrs.source
//	cxpulsetenant        → tenant (an extension attribute)
//	datacontenttype      application/json, or absent
//	data                 the event's other fields (survey, ticket, purchase,
//	                     referral, customer_id, revision, dims, attrs), a
//	                     JSON object without the fields above
//
// FromCloudEvent and FromBinaryCloudEvent turn one into the event's JSON,
// which then decodes and validates like any event; their errors name the
// CloudEvents attribute at fault (a *CloudEventError).

// CloudEventTypePrefix starts the CloudEvents type of every cxpulse event.
const CloudEventTypePrefix = "com.cxpulse."

// CloudEventTenant is the extension attribute that names the tenant.
const CloudEventTenant = "cxpulsetenant"

// CloudEventError is a CloudEvent that does not carry a cxpulse event:
// Attribute names the CloudEvents attribute ("type", "data.id", …).
type CloudEventError struct {
	Attribute string
	Reason    string
}

func (e *CloudEventError) Error() string { return e.Attribute + ": " + e.Reason }

// CloudEventAttribute is the CloudEvents attribute an event field comes
// from ("" for a field of data).
func CloudEventAttribute(field string) string {
	switch field {
	case "id", "type":
		return field
	case "occurred_at":
		return "time"
	case "tenant":
		return CloudEventTenant
	case "attrs.source":
		return "source"
	}
	return ""
}

// FromCloudEvent maps a CloudEvent in structured mode (one JSON object) to
// a cxpulse event's JSON.
func FromCloudEvent(b []byte) ([]byte, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, &CloudEventError{Attribute: "(event)", Reason: "malformed JSON: " + ParseErrorText(err)}
	}
	o, err := v.Object()
	if err != nil {
		return nil, &CloudEventError{Attribute: "(event)", Reason: "not a JSON object"}
	}
	attrs := map[string]string{}
	var data *fastjson.Value
	var errs []error
	o.Visit(func(k []byte, val *fastjson.Value) {
		key := string(k)
		switch {
		case key == "data":
			data = val
		case key == "data_base64":
			errs = append(errs, &CloudEventError{Attribute: "data_base64", Reason: "binary data is not an event; send data as a JSON object"})
		case val.Type() == fastjson.TypeString:
			attrs[key] = string(val.GetStringBytes())
		default:
			errs = append(errs, &CloudEventError{Attribute: key, Reason: "must be a string"})
		}
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var raw []byte
	if data != nil {
		raw = data.MarshalTo(nil)
	}
	return fromAttributes(attrs, raw)
}

// FromBinaryCloudEvent maps a CloudEvent in binary mode (its attributes
// from ce-* HTTP headers or ce_* Kafka headers, without the prefix, and
// its data as the body) to a cxpulse event's JSON.
func FromBinaryCloudEvent(attrs map[string]string, data []byte) ([]byte, error) {
	return fromAttributes(attrs, data)
}

// CloudEventHeaders collects the CloudEvents attributes of binary-mode
// headers: names starting with prefix ("ce-" over HTTP, "ce_" on Kafka),
// case-insensitively; the content type gives datacontenttype.
func CloudEventHeaders(prefix string, headers func(yield func(name, value string) bool)) map[string]string {
	attrs := map[string]string{}
	for name, value := range headers {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, prefix):
			attrs[lower[len(prefix):]] = value
		case lower == "content-type" || lower == "content_type":
			attrs["datacontenttype"] = value
		}
	}
	return attrs
}

func fromAttributes(attrs map[string]string, data []byte) ([]byte, error) {
	var errs []error
	bad := func(attr, format string, args ...any) {
		errs = append(errs, &CloudEventError{Attribute: attr, Reason: fmt.Sprintf(format, args...)})
	}
	if v := attrs["specversion"]; v != "1.0" {
		bad("specversion", "%q is not 1.0", v)
	}
	for _, a := range []string{"id", "source", "type", "time", CloudEventTenant} {
		if attrs[a] == "" {
			bad(a, "required")
		}
	}
	typ, ok := strings.CutPrefix(attrs["type"], CloudEventTypePrefix)
	if attrs["type"] != "" && !ok {
		bad("type", "%q does not start with %s (e.g. %ssurvey.response)", attrs["type"], CloudEventTypePrefix, CloudEventTypePrefix)
	}
	if ct := attrs["datacontenttype"]; ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			bad("datacontenttype", "%q is not JSON", ct)
		}
	}
	var a fastjson.Arena
	out := a.NewObject()
	if len(data) > 0 {
		var p fastjson.Parser
		v, err := p.ParseBytes(data)
		if err != nil {
			bad("data", "malformed JSON: %s", ParseErrorText(err))
		} else if o, err := v.Object(); err != nil {
			bad("data", "not a JSON object")
		} else {
			o.Visit(func(k []byte, val *fastjson.Value) {
				key := string(k)
				switch key {
				case "id", "type", "tenant", "occurred_at":
					bad("data."+key, "comes from the CloudEvent's %s attribute", CloudEventAttribute(key))
				default:
					out.Set(key, val)
				}
			})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out.Set("id", a.NewString(attrs["id"]))
	out.Set("type", a.NewString(typ))
	out.Set("tenant", a.NewString(attrs[CloudEventTenant]))
	out.Set("occurred_at", a.NewString(attrs["time"]))
	extra := out.Get("attrs")
	switch {
	case extra == nil:
		extra = a.NewObject()
		out.Set("attrs", extra)
	case extra.Type() != fastjson.TypeObject:
		return nil, &CloudEventError{Attribute: "data.attrs", Reason: "not a JSON object"}
	}
	if extra.Get("source") != nil {
		return nil, &CloudEventError{Attribute: "data.attrs.source", Reason: "comes from the CloudEvent's source attribute"}
	}
	extra.Set("source", a.NewString(attrs["source"]))
	return out.MarshalTo(nil), nil
}
