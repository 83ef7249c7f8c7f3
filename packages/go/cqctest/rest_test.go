package cqctest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

// restCall sends one REST request to base and decodes the JSON response body.
func restCall(t *testing.T, method, base, path, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func TestREST(t *testing.T) {
	srv, err := Start(context.Background(), Options{Testdata: corpus.Testdata()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	rest, err := StartREST(context.Background(), srv, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rest.Stop() })
	base := "http://" + rest.Addr()

	// GET a resource by id: canonical proto JSON (lowerCamelCase names, enums by name).
	code, got := restCall(t, "GET", base, "/v1/assets/"+regUSDC, "")
	if code != 200 {
		t.Fatalf("GET asset: %d %v", code, got)
	}
	asset, _ := got["asset"].(map[string]any)
	if asset["assetId"] != regUSDC || !strings.HasPrefix(asset["type"].(string), "ASSET_TYPE_") {
		t.Fatalf("GET asset: %v", got)
	}

	// List with page_size and page_token as query parameters: two pages, no overlap.
	code, page1 := restCall(t, "GET", base, "/v1/assets?pageSize=2", "")
	token, _ := page1["nextPageToken"].(string)
	if code != 200 || len(page1["assets"].([]any)) != 2 || token == "" {
		t.Fatalf("list page 1: %d %v", code, page1)
	}
	code, page2 := restCall(t, "GET", base, "/v1/assets?pageSize=2&pageToken="+url.QueryEscape(token), "")
	if code != 200 || len(page2["assets"].([]any)) == 0 {
		t.Fatalf("list page 2: %d %v", code, page2)
	}
	first := page1["assets"].([]any)[0].(map[string]any)["assetId"]
	if page2["assets"].([]any)[0].(map[string]any)["assetId"] == first {
		t.Fatal("page 2 repeats page 1")
	}

	// POST create (body "asset"), then PATCH with an update mask (body "asset", mask as query parameter).
	const id = "ast_01JDRESTTEST00000000000000"
	code, created := restCall(t, "POST", base, "/v1/assets",
		`{"assetId":"`+id+`","symbol":"RST","name":"REST test","type":"ASSET_TYPE_PROTOCOL_TOKEN","status":"ASSET_STATUS_ACTIVE","precision":6}`)
	if code != 200 || created["asset"].(map[string]any)["assetId"] != id {
		t.Fatalf("POST asset: %d %v", code, created)
	}
	// The whole asset is validated, so the body carries it; only the masked path is written.
	code, updated := restCall(t, "PATCH", base, "/v1/assets/"+id+"?updateMask=name",
		`{"symbol":"RST","name":"REST test renamed","type":"ASSET_TYPE_PROTOCOL_TOKEN","status":"ASSET_STATUS_ACTIVE","precision":6}`)
	if code != 200 || updated["asset"].(map[string]any)["name"] != "REST test renamed" {
		t.Fatalf("PATCH asset: %d %v", code, updated)
	}
	code, again := restCall(t, "GET", base, "/v1/assets/"+id, "")
	if code != 200 || again["asset"].(map[string]any)["symbol"] != "RST" {
		t.Fatalf("GET after PATCH: %d %v", code, again)
	}

	// INVALID_ARGUMENT: HTTP 400 with a google.rpc.Status body carrying ErrorInfo and BadRequest details.
	code, status := restCall(t, "GET", base, "/v1/assets/not-an-id", "")
	if code != 400 || status["code"] != float64(3) || status["message"] == "" {
		t.Fatalf("invalid id: %d %v", code, status)
	}
	types := map[string]bool{}
	for _, d := range status["details"].([]any) {
		types[d.(map[string]any)["@type"].(string)] = true
	}
	if !types["type.googleapis.com/google.rpc.ErrorInfo"] || !types["type.googleapis.com/google.rpc.BadRequest"] {
		t.Fatalf("invalid id: details %v", status["details"])
	}

	// A body that is not proto JSON for the request (negative uint32) is INVALID_ARGUMENT too, not a 500.
	if code, status := restCall(t, "POST", base, "/v1/assets", `{"assetId":"`+id+`","precision":-1}`); code != 400 || status["code"] != float64(3) {
		t.Fatalf("bad body: %d %v", code, status)
	}

	// NOT_FOUND maps to 404.
	if code, _ := restCall(t, "GET", base, "/v1/assets/ast_01JDZZZZZZZZZZZZZZZZZZZZZZ", ""); code != 404 {
		t.Fatalf("unknown asset: %d", code)
	}
}

func TestUnimplemented(t *testing.T) {
	got := strings.Join(Unimplemented(), " ")
	if strings.Contains(got, "cqc.services.v1.Portfolio.") {
		t.Fatalf("implemented Portfolio method listed: %s", got)
	}
	if strings.Contains(got, "cqc.services.v1.AssetRegistry.GetAsset ") {
		t.Fatalf("implemented method listed: %s", got)
	}
}
