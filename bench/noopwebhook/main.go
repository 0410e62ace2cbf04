// Command noopwebhook is the floor for bench/webhook_bench.py: an admission webhook that allows
// every request at once, served over TLS like the operator's. Whatever a create costs with it
// registered is what the API server itself spends calling out to any webhook (encoding the
// AdmissionReview, the TLS round trip, decoding the answer); no implementation of voxgate's
// webhooks can cost less.
//
// One exception, so the benchmark can tell that the API server has picked up this webhook's
// configuration: an object named "webhook-probe" is refused.
//
// usage: noopwebhook ADDRESS CERT_FILE KEY_FILE
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
)

// review holds only what the answer needs; the rest of the request is read and dropped.
type review struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID  string `json:"uid"`
		Name string `json:"name"`
	} `json:"request,omitempty"`
	Response *answer `json:"response,omitempty"`
}

type answer struct {
	UID     string  `json:"uid"`
	Allowed bool    `json:"allowed"`
	Status  *status `json:"status,omitempty"`
}

type status struct {
	Message string `json:"message"`
}

const probeName = "webhook-probe"

func allow(w http.ResponseWriter, r *http.Request) {
	var in review
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, "expected an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	verdict := &answer{UID: in.Request.UID, Allowed: true}
	if in.Request.Name == probeName {
		verdict = &answer{UID: in.Request.UID, Status: &status{Message: "refused by noopwebhook"}}
	}
	out := review{APIVersion: in.APIVersion, Kind: in.Kind, Response: verdict}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "noopwebhook: cannot write the answer:", err)
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: noopwebhook ADDRESS CERT_FILE KEY_FILE")
		os.Exit(2)
	}
	http.HandleFunc("/", allow)
	if err := http.ListenAndServeTLS(os.Args[1], os.Args[2], os.Args[3], nil); err != nil {
		fmt.Fprintln(os.Stderr, "noopwebhook:", err)
		os.Exit(1)
	}
}
