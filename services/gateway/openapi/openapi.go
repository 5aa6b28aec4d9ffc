// Package openapi builds the OpenAPI 3 document of StreamGate's REST routes
// from the compiled contracts: one operation per google.api.http rule of
// every RPC the gateway exposes (internal RPCs are left out), with request
// parameters, bodies and responses as JSON Schemas derived from the message
// descriptors under their protojson field names, and the security each
// access class requires. The gateway serves it at /openapi.json.
package openapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/reflect/protoreflect"

	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	"github.com/streamgate/streamgate/internal/catalog"
)

// Info describes the API in the document.
type Info struct {
	Title   string // "StreamGate API" when empty
	Version string // "v1" when empty
	// ServerURL is the gateway's public base URL; omitted when empty
	// (clients then resolve paths against the document's own URL).
	ServerURL string
}

// ErrorSchema names the component schema of Connect's JSON error shape.
const ErrorSchema = "connect.error"

// Build returns the OpenAPI 3.0 document for the catalog's REST routes.
func Build(cat *catalog.Catalog, info Info) ([]byte, error) {
	doc, err := Document(cat, info)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Document returns the document as a JSON-shaped value.
func Document(cat *catalog.Catalog, info Info) (map[string]any, error) {
	if info.Title == "" {
		info.Title = "StreamGate API"
	}
	if info.Version == "" {
		info.Version = "v1"
	}
	b := &builder{schemas: map[string]any{}}
	b.schemas[ErrorSchema] = map[string]any{
		"type":     "object",
		"required": []string{"code"},
		"properties": map[string]any{
			"code":    map[string]any{"type": "string", "description": "The Connect error code, e.g. not_found, unauthenticated."},
			"message": map[string]any{"type": "string"},
			"details": map[string]any{"type": "array", "items": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"type":  map[string]any{"type": "string"},
					"value": map[string]any{"type": "string", "format": "byte"},
				},
			}},
		},
	}
	paths := map[string]any{}
	for _, m := range cat.Methods() {
		if m.HTTP == nil || m.EffectiveAccess() == optionsv1.Access_ACCESS_INTERNAL {
			continue
		}
		if m.StreamType == catalog.ClientStream || m.StreamType == catalog.BidiStream {
			continue // the gateway routes no client streams
		}
		rules := append([]*annotations.HttpRule{m.HTTP}, m.HTTP.GetAdditionalBindings()...)
		for i, rule := range rules {
			verb, tmpl := ruleVerb(rule)
			if verb == "" {
				return nil, fmt.Errorf("openapi: %s: unsupported http rule %v", m.Procedure, rule)
			}
			path, pathFields := openAPIPath(tmpl)
			op, err := b.operation(m, rule, pathFields)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				op["operationId"] = fmt.Sprintf("%s_%d", op["operationId"], i)
			}
			item, _ := paths[path].(map[string]any)
			if item == nil {
				item = map[string]any{}
				paths[path] = item
			}
			if _, dup := item[verb]; dup {
				return nil, fmt.Errorf("openapi: %s %s is declared twice", strings.ToUpper(verb), path)
			}
			item[verb] = op
		}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": info.Title, "version": info.Version},
		"paths":   paths,
		"components": map[string]any{
			"schemas": b.schemas,
			"securitySchemes": map[string]any{
				"session":  map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A session token from AuthService.VerifySignIn."},
				"operator": map[string]any{"type": "http", "scheme": "bearer", "description": "The operator credential from the server's configuration."},
			},
		},
	}
	if info.ServerURL != "" {
		doc["servers"] = []any{map[string]any{"url": info.ServerURL}}
	}
	return doc, nil
}

type builder struct {
	schemas map[string]any
}

func ruleVerb(r *annotations.HttpRule) (verb, path string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "get", p.Get
	case *annotations.HttpRule_Post:
		return "post", p.Post
	case *annotations.HttpRule_Put:
		return "put", p.Put
	case *annotations.HttpRule_Delete:
		return "delete", p.Delete
	case *annotations.HttpRule_Patch:
		return "patch", p.Patch
	}
	return "", ""
}

var pathVar = regexp.MustCompile(`\{([a-zA-Z0-9_.]+)(=[^}]*)?\}`)

// openAPIPath turns "/v1/things/{thing_id}" or "/v1/{name=things/*}" into
// an OpenAPI path and returns the field paths it binds.
func openAPIPath(tmpl string) (string, []string) {
	var fields []string
	out := pathVar.ReplaceAllStringFunc(tmpl, func(s string) string {
		f := pathVar.FindStringSubmatch(s)[1]
		fields = append(fields, f)
		return "{" + f + "}"
	})
	return out, fields
}

func (b *builder) operation(m catalog.Method, rule *annotations.HttpRule, pathFields []string) (map[string]any, error) {
	in := m.Descriptor.Input()
	out := m.Descriptor.Output()
	op := map[string]any{
		"operationId": fmt.Sprintf("%s.%s", m.Service.Name(), m.Name),
		"tags":        []string{string(m.Service.Name())},
		"summary":     fmt.Sprintf("%s (%s)", m.Name, m.Procedure),
	}
	var params []any
	bound := map[string]bool{}
	for _, fp := range pathFields {
		fd, err := fieldByPath(in, fp)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", m.Procedure, err)
		}
		bound[fp] = true
		params = append(params, map[string]any{"name": fp, "in": "path", "required": true, "schema": b.fieldSchema(fd, false)})
	}
	switch body := rule.GetBody(); body {
	case "":
		// Every other top-level field is a query parameter.
		fields := in.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if bound[string(fd.Name())] || (fd.Kind() == protoreflect.MessageKind && !isScalarWKT(fd.Message())) || fd.IsMap() {
				continue
			}
			params = append(params, map[string]any{"name": fd.JSONName(), "in": "query", "schema": b.fieldSchema(fd, true)})
		}
	case "*":
		op["requestBody"] = map[string]any{"required": true, "content": jsonContent(b.messageRef(in))}
	default:
		fd := in.Fields().ByName(protoreflect.Name(body))
		if fd == nil {
			return nil, fmt.Errorf("openapi: %s: body field %q not in %s", m.Procedure, body, in.FullName())
		}
		op["requestBody"] = map[string]any{"required": true, "content": jsonContent(b.fieldSchema(fd, true))}
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	resSchema := b.messageRef(out)
	if rb := rule.GetResponseBody(); rb != "" {
		fd := out.Fields().ByName(protoreflect.Name(rb))
		if fd == nil {
			return nil, fmt.Errorf("openapi: %s: response_body field %q not in %s", m.Procedure, rb, out.FullName())
		}
		resSchema = b.fieldSchema(fd, true)
	}
	op["responses"] = map[string]any{
		"200":     map[string]any{"description": "OK", "content": jsonContent(resSchema)},
		"default": map[string]any{"description": "A Connect error.", "content": jsonContent(ref(ErrorSchema))},
	}
	switch m.EffectiveAccess() {
	case optionsv1.Access_ACCESS_PUBLIC:
		// Open; a session, when sent, must be valid.
		op["security"] = []any{map[string]any{}, map[string]any{"session": []string{}}}
	case optionsv1.Access_ACCESS_SESSION:
		op["security"] = []any{map[string]any{"session": []string{}}}
	case optionsv1.Access_ACCESS_OPERATOR:
		op["security"] = []any{map[string]any{"operator": []string{}}}
	}
	op["x-streamgate-access"] = strings.ToLower(strings.TrimPrefix(m.EffectiveAccess().String(), "ACCESS_"))
	return op, nil
}

func jsonContent(schema any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func fieldByPath(md protoreflect.MessageDescriptor, path string) (protoreflect.FieldDescriptor, error) {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		fd := md.Fields().ByName(protoreflect.Name(p))
		if fd == nil {
			return nil, fmt.Errorf("no field %q in %s", p, md.FullName())
		}
		if i == len(parts)-1 {
			return fd, nil
		}
		if fd.Message() == nil {
			return nil, fmt.Errorf("field %q of %s is not a message", p, md.FullName())
		}
		md = fd.Message()
	}
	return nil, fmt.Errorf("empty field path")
}

// messageRef returns a reference to the message's component schema,
// building it (and the messages it uses) on first sight. Well-known types
// are inlined in their JSON form.
func (b *builder) messageRef(md protoreflect.MessageDescriptor) map[string]any {
	if s, ok := wellKnown(md); ok {
		return s
	}
	name := string(md.FullName())
	if _, ok := b.schemas[name]; !ok {
		b.schemas[name] = nil // placeholder: recursion stops here
		props := map[string]any{}
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			props[fd.JSONName()] = b.fieldSchema(fd, true)
		}
		s := map[string]any{"type": "object", "properties": props}
		b.schemas[name] = s
	}
	return ref(name)
}

// fieldSchema is the JSON Schema of a field's protojson value; withList
// includes repeated and map wrappers.
func (b *builder) fieldSchema(fd protoreflect.FieldDescriptor, withList bool) map[string]any {
	if withList && fd.IsMap() {
		return map[string]any{"type": "object", "additionalProperties": b.fieldSchema(fd.MapValue(), true)}
	}
	if withList && fd.IsList() {
		return map[string]any{"type": "array", "items": b.fieldSchema(fd, false)}
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer", "format": "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return map[string]any{"type": "integer", "format": "int64", "minimum": 0}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return map[string]any{"type": "string", "format": "int64"}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"type": "string", "format": "uint64"}
	case protoreflect.FloatKind:
		return map[string]any{"type": "number", "format": "float"}
	case protoreflect.DoubleKind:
		return map[string]any{"type": "number", "format": "double"}
	case protoreflect.StringKind:
		return map[string]any{"type": "string"}
	case protoreflect.BytesKind:
		return map[string]any{"type": "string", "format": "byte"}
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		names := make([]string, 0, vals.Len())
		for i := range vals.Len() {
			names = append(names, string(vals.Get(i).Name()))
		}
		return map[string]any{"type": "string", "enum": names}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return b.messageRef(fd.Message())
	}
	return map[string]any{}
}

// isScalarWKT reports well-known message types whose JSON form is a scalar
// (usable as a query parameter).
func isScalarWKT(md protoreflect.MessageDescriptor) bool {
	s, ok := wellKnown(md)
	if !ok {
		return false
	}
	t, _ := s["type"].(string)
	return t != "" && t != "object" && t != "array"
}

func wellKnown(md protoreflect.MessageDescriptor) (map[string]any, bool) {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return map[string]any{"type": "string", "format": "date-time"}, true
	case "google.protobuf.Duration":
		return map[string]any{"type": "string", "description": `Seconds with an "s" suffix, e.g. "3.5s".`}, true
	case "google.protobuf.FieldMask":
		return map[string]any{"type": "string", "description": "Comma-separated field paths."}, true
	case "google.protobuf.Empty":
		return map[string]any{"type": "object"}, true
	case "google.protobuf.Struct":
		return map[string]any{"type": "object", "additionalProperties": true}, true
	case "google.protobuf.Value":
		return map[string]any{}, true
	case "google.protobuf.ListValue":
		return map[string]any{"type": "array", "items": map[string]any{}}, true
	case "google.protobuf.Any":
		return map[string]any{"type": "object", "properties": map[string]any{"@type": map[string]any{"type": "string"}}, "additionalProperties": true}, true
	case "google.protobuf.BoolValue":
		return map[string]any{"type": "boolean"}, true
	case "google.protobuf.StringValue":
		return map[string]any{"type": "string"}, true
	case "google.protobuf.BytesValue":
		return map[string]any{"type": "string", "format": "byte"}, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return map[string]any{"type": "integer"}, true
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return map[string]any{"type": "string", "format": "int64"}, true
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return map[string]any{"type": "number"}, true
	}
	return nil, false
}
