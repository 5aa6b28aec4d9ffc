package openapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"

	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/services/gateway/openapi"
)

type operation struct {
	OperationID string           `json:"operationId"`
	Parameters  []map[string]any `json:"parameters"`
	RequestBody map[string]any   `json:"requestBody"`
	Responses   map[string]struct {
		Content map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
	Security []map[string][]string `json:"security"`
}

type document struct {
	OpenAPI    string                          `json:"openapi"`
	Info       map[string]string               `json:"info"`
	Servers    []map[string]string             `json:"servers"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas         map[string]map[string]any `json:"schemas"`
		SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
	} `json:"components"`
}

func build(t *testing.T) document {
	t.Helper()
	raw, err := openapi.Build(catalog.Default(), openapi.Info{ServerURL: "https://video.example"})
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return doc
}

func verbPath(r *annotations.HttpRule) (string, string) {
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

func TestDocument(t *testing.T) {
	doc := build(t)
	if doc.OpenAPI != "3.0.3" || doc.Info["title"] == "" || len(doc.Servers) != 1 || doc.Servers[0]["url"] != "https://video.example" {
		t.Errorf("header: openapi %q info %v servers %v", doc.OpenAPI, doc.Info, doc.Servers)
	}

	// Every annotated RPC the gateway routes is present, under its
	// operationId; internal ones are absent.
	ops := map[string]operation{}
	for path, item := range doc.Paths {
		for verb, op := range item {
			if _, dup := ops[op.OperationID]; dup {
				t.Errorf("operationId %s twice", op.OperationID)
			}
			ops[op.OperationID] = op
			_ = path + verb
		}
	}
	for _, m := range catalog.Default().Methods() {
		id := string(m.Service.Name()) + "." + string(m.Name)
		_, present := ops[id]
		want := m.HTTP != nil && m.EffectiveAccess() != optionsv1.Access_ACCESS_INTERNAL
		if present != want {
			t.Errorf("%s: present %v, want %v (access %v)", id, present, want, m.EffectiveAccess())
		}
		if !want {
			continue
		}
		verb, path := verbPath(m.HTTP)
		if _, ok := doc.Paths[path][verb]; !ok {
			t.Errorf("%s: no %s %s", id, verb, path)
		}
		wantSec := map[optionsv1.Access]string{optionsv1.Access_ACCESS_SESSION: "session", optionsv1.Access_ACCESS_OPERATOR: "operator"}[m.EffectiveAccess()]
		sec := ops[id].Security
		switch {
		case wantSec != "" && (len(sec) != 1 || sec[0][wantSec] == nil):
			t.Errorf("%s: security %v, want only %s", id, sec, wantSec)
		case wantSec == "" && (len(sec) == 0 || len(sec[0]) != 0):
			t.Errorf("%s: security %v, want anonymous allowed", id, sec)
		}
	}

	get, ok := doc.Paths["/v1/videos/{video_id}"]["get"]
	if !ok {
		t.Fatal("no GET /v1/videos/{video_id}")
	}
	if get.OperationID != "MetadataService.GetVideo" {
		t.Errorf("operationId = %q", get.OperationID)
	}
	if len(get.Parameters) != 1 || get.Parameters[0]["name"] != "video_id" || get.Parameters[0]["in"] != "path" || get.Parameters[0]["required"] != true {
		t.Errorf("parameters = %v, want the video_id path parameter", get.Parameters)
	}
	if ref := get.Responses["200"].Content["application/json"].Schema["$ref"]; ref != "#/components/schemas/streamgate.metadata.v1.GetVideoResponse" {
		t.Errorf("200 schema = %v", ref)
	}
	if ref := get.Responses["default"].Content["application/json"].Schema["$ref"]; ref != "#/components/schemas/"+openapi.ErrorSchema {
		t.Errorf("error schema = %v", ref)
	}
	// The query parameters of a list call use protojson names.
	list := doc.Paths["/v1/videos"]["get"]
	var names []string
	for _, p := range list.Parameters {
		if p["in"] != "query" {
			t.Errorf("ListVideos parameter %v is not in the query", p)
		}
		names = append(names, p["name"].(string))
	}
	if !strings.Contains(strings.Join(names, ","), "pageSize") {
		t.Errorf("ListVideos query parameters %v lack pageSize", names)
	}
	// A body route references its message.
	if body := doc.Paths["/v1/auth/challenges"]["post"].RequestBody; body == nil {
		t.Error("CreateChallenge has no request body")
	}

	// Components: Video, with protojson names and JSON types.
	video, ok := doc.Components.Schemas["streamgate.metadata.v1.Video"]
	if !ok {
		t.Fatal("no Video schema")
	}
	props, _ := video["properties"].(map[string]any)
	for _, f := range []string{"id", "title"} {
		if _, ok := props[f]; !ok {
			t.Errorf("Video schema lacks %q: %v", f, props)
		}
	}
	// Every $ref resolves.
	raw, _ := json.Marshal(doc)
	for _, part := range strings.Split(string(raw), `"$ref":"#/components/schemas/`)[1:] {
		name := part[:strings.IndexByte(part, '"')]
		if doc.Components.Schemas[name] == nil {
			t.Errorf("dangling $ref %s", name)
		}
	}
	if doc.Components.SecuritySchemes["session"]["scheme"] != "bearer" {
		t.Errorf("security schemes = %v", doc.Components.SecuritySchemes)
	}
}
