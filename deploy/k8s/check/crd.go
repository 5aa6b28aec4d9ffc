package check

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The custom resources the manifests use. Importing their projects' Go
// modules would pull in controller-runtime and more; these structs mirror
// the upstream CRD schemas (cert-manager.io/v1, keda.sh/v1alpha1,
// monitoring.coreos.com/v1), JSON names included, for the fields we use.
// A field the manifests start using that is missing here fails strict
// decoding: check it against the upstream CRD, then add it.

// Issuer is cert-manager.io/v1 Issuer (selfSigned and ca issuers).
type Issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SelfSigned *struct {
			CRLDistributionPoints []string `json:"crlDistributionPoints,omitempty"`
		} `json:"selfSigned,omitempty"`
		CA *struct {
			SecretName             string   `json:"secretName"`
			CRLDistributionPoints  []string `json:"crlDistributionPoints,omitempty"`
			OCSPServers            []string `json:"ocspServers,omitempty"`
			IssuingCertificateURLs []string `json:"issuingCertificateURLs,omitempty"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

// Certificate is cert-manager.io/v1 Certificate.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SecretName     string   `json:"secretName"`
		CommonName     string   `json:"commonName,omitempty"`
		DNSNames       []string `json:"dnsNames,omitempty"`
		URIs           []string `json:"uris,omitempty"`
		IPAddresses    []string `json:"ipAddresses,omitempty"`
		EmailAddresses []string `json:"emailAddresses,omitempty"`
		Duration       string   `json:"duration,omitempty"`
		RenewBefore    string   `json:"renewBefore,omitempty"`
		IsCA           bool     `json:"isCA,omitempty"`
		Usages         []string `json:"usages,omitempty"`
		Subject        *struct {
			Organizations       []string `json:"organizations,omitempty"`
			OrganizationalUnits []string `json:"organizationalUnits,omitempty"`
			Countries           []string `json:"countries,omitempty"`
		} `json:"subject,omitempty"`
		PrivateKey *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Encoding       string `json:"encoding,omitempty"`
			Size           int    `json:"size,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		SecretTemplate *struct {
			Annotations map[string]string `json:"annotations,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
		} `json:"secretTemplate,omitempty"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind,omitempty"`
			Group string `json:"group,omitempty"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

// ScaledObject is keda.sh/v1alpha1 ScaledObject.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
		IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
		Fallback              *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback,omitempty"`
		Advanced *struct {
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
			MetricType        string            `json:"metricType,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// PodMonitor is monitoring.coreos.com/v1 PodMonitor.
type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		SampleLimit         *uint64 `json:"sampleLimit,omitempty"`
		PodMetricsEndpoints []struct {
			Port              string              `json:"port,omitempty"`
			PortNumber        *int32              `json:"portNumber,omitempty"`
			Path              string              `json:"path,omitempty"`
			Scheme            string              `json:"scheme,omitempty"`
			Params            map[string][]string `json:"params,omitempty"`
			Interval          string              `json:"interval,omitempty"`
			ScrapeTimeout     string              `json:"scrapeTimeout,omitempty"`
			HonorLabels       bool                `json:"honorLabels,omitempty"`
			HonorTimestamps   *bool               `json:"honorTimestamps,omitempty"`
			Relabelings       []RelabelConfig     `json:"relabelings,omitempty"`
			MetricRelabelings []RelabelConfig     `json:"metricRelabelings,omitempty"`
			TLSConfig         *struct {
				CA                 *SecretOrConfigMap        `json:"ca,omitempty"`
				Cert               *SecretOrConfigMap        `json:"cert,omitempty"`
				KeySecret          *corev1.SecretKeySelector `json:"keySecret,omitempty"`
				ServerName         string                    `json:"serverName,omitempty"`
				InsecureSkipVerify bool                      `json:"insecureSkipVerify,omitempty"`
			} `json:"tlsConfig,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// RelabelConfig is a Prometheus relabeling rule of a PodMonitor.
type RelabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    *string  `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

// SecretOrConfigMap is a PodMonitor TLS file from a Secret or ConfigMap key.
type SecretOrConfigMap struct {
	Secret    *corev1.SecretKeySelector    `json:"secret,omitempty"`
	ConfigMap *corev1.ConfigMapKeySelector `json:"configMap,omitempty"`
}
