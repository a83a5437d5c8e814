// Package v1alpha1 contains the ytx.dev/v1alpha1 API: the YouTubeExtraction
// resource that users apply to pull metadata and media out of a YouTube link.
//
// +kubebuilder:object:generate=true
// +groupName=ytx.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "ytx.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a
	// runtime.Scheme. It is apimachinery's builder, as in k8s.io/api,
	// rather than controller-runtime's pkg/scheme (deprecated), so that
	// the API package depends on apimachinery alone.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the kinds of this version, and the meta types
// (ListOptions, Status, ...) a client of the group version needs.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&YouTubeExtraction{},
		&YouTubeExtractionList{},
		&YouTubePlaylist{},
		&YouTubePlaylistList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
