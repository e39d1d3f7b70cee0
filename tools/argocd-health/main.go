// Command argocd-health judges Kubernetes objects the way the Argo CD application controller does: the argocd-cm
// ConfigMap (built from an argocd-cm merge patch such as deploy/argocd/argocd-cm-patch.yaml) is read by Argo CD's
// own settings manager into resource overrides, and each object goes through gitops-engine's
// health.GetResourceHealth with those overrides as Lua health checks — the call controller/health.go makes.
//
// Usage:
//
//	argocd-health -argocd-cm-patch deploy/argocd/argocd-cm-patch.yaml < objects.json > verdicts.json
//	kubectl get mapool -A -o json | argocd-health -argocd-cm-patch deploy/argocd/argocd-cm-patch.yaml
//
// stdin is a JSON (or YAML) array of objects, a list (`kubectl get -o json`) or one object; stdout is a JSON array
// with one verdict per object, in order:
//
//	{"status": "Degraded", "message": "...", "error": "..."}
//
// "error" is set when Argo CD's engine returned one (the controller logs it and shows the status, Unknown, and
// the message); "status" is empty when no health check applies to the object (Argo CD then shows no health).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	jsonpatch "github.com/evanphx/json-patch"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// The namespace Argo CD's `argocd admin settings` commands use for their in-memory ConfigMap; any works.
const namespace = "argocd"

type verdict struct {
	Status  health.HealthStatusCode `json:"status"`
	Message string                  `json:"message"`
	Error   string                  `json:"error,omitempty"`
}

func main() {
	patchPath := flag.String("argocd-cm-patch", "", "argocd-cm merge patch (YAML or JSON), as given to "+
		"`kubectl patch configmap argocd-cm --type merge --patch-file`")
	flag.Parse()
	if *patchPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health -argocd-cm-patch FILE < objects.json > verdicts.json")
		os.Exit(2)
	}
	// The settings manager logs at info level about defaults it applies; only problems belong on stderr.
	log.SetLevel(log.WarnLevel)
	if err := run(*patchPath, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}

func run(patchPath string, in io.Reader, out io.Writer) error {
	configMap, err := patchedArgoCDConfigMap(patchPath)
	if err != nil {
		return err
	}
	overrides, err := resourceOverrides(configMap)
	if err != nil {
		return err
	}
	raw, err := readObjects(in)
	if err != nil {
		return err
	}
	verdicts := make([]verdict, 0, len(raw))
	for i, item := range raw {
		obj, err := decodeObject(item)
		if err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
		verdicts = append(verdicts, judge(obj, overrides))
	}
	encoder := json.NewEncoder(out)
	encoder.SetIndent("", "  ")
	return encoder.Encode(verdicts)
}

// patchedArgoCDConfigMap applies the patch to an empty argocd-cm as `kubectl patch --type merge` does (RFC 7386).
func patchedArgoCDConfigMap(path string) (*corev1.ConfigMap, error) {
	patchYAML, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	patch, err := yaml.YAMLToJSON(patchYAML)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base, err := json.Marshal(&corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      common.ArgoCDConfigMapName,
			Namespace: namespace,
			// The settings manager's informers only see ConfigMaps with this label.
			Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
	})
	if err != nil {
		return nil, err
	}
	merged, err := jsonpatch.MergePatch(base, patch)
	if err != nil {
		return nil, fmt.Errorf("%s is not a merge patch: %w", path, err)
	}
	configMap := &corev1.ConfigMap{}
	if err := json.Unmarshal(merged, configMap); err != nil {
		return nil, fmt.Errorf("%s does not patch a ConfigMap: %w", path, err)
	}
	return configMap, nil
}

// resourceOverrides reads the ConfigMap with Argo CD's settings manager, through a fake clientset exactly like
// `argocd admin settings resource-overrides health --argocd-cm-path` does, so the data keys
// (resource.customizations.health.<group>_<kind>, .useOpenLibs.<group>_<kind>, the resource.customizations
// block) are interpreted by Argo CD's own code.
func resourceOverrides(configMap *corev1.ConfigMap) (lua.ResourceHealthOverrides, error) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      common.ArgoCDSecretName,
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
		Data: map[string][]byte{"server.secretkey": []byte("argocd-health")},
	}
	ctx := context.Background()
	manager := settings.NewSettingsManager(ctx, fake.NewClientset(configMap, secret), namespace)
	if err := manager.ResyncInformers(); err != nil {
		return nil, fmt.Errorf("argocd settings: %w", err)
	}
	overrides, err := manager.GetResourceOverrides()
	if err != nil {
		return nil, fmt.Errorf("argocd-cm resource customizations: %w", err)
	}
	return lua.ResourceHealthOverrides(overrides), nil
}

// readObjects splits stdin into objects: an array of them, a list's items, or a single object.
func readObjects(in io.Reader) ([]json.RawMessage, error) {
	text, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	document, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, fmt.Errorf("stdin is neither JSON nor YAML: %w", err)
	}
	var objects []json.RawMessage
	if json.Unmarshal(document, &objects) == nil {
		return objects, nil
	}
	var list struct {
		Items *[]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(document, &list); err != nil {
		return nil, fmt.Errorf("stdin must hold objects (an array, a list or one object): %w", err)
	}
	if list.Items != nil {
		return *list.Items, nil
	}
	return []json.RawMessage{document}, nil
}

// decodeObject decodes as client-go decodes a live object (whole numbers become int64, as Argo CD's cache has them).
func decodeObject(raw json.RawMessage) (*unstructured.Unstructured, error) {
	obj, _, err := unstructured.UnstructuredJSONScheme.Decode(raw, nil, nil)
	if err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("not a single object but %T", obj)
	}
	return u, nil
}

// judge is the controller's call (controller/health.go, setApplicationHealth): the status and message it stores
// for the resource.
func judge(obj *unstructured.Unstructured, overrides lua.ResourceHealthOverrides) verdict {
	status, err := health.GetResourceHealth(obj, overrides)
	v := verdict{}
	if status != nil {
		v.Status, v.Message = status.Status, status.Message
	}
	if err != nil {
		v.Error = err.Error()
	}
	return v
}
