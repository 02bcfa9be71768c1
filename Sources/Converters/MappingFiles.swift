/// The mapping files compiled in from converters/ (Package.swift embeds every `*.json` there; a new one
/// is listed here too, since the embedded bytes are only reachable by name).
enum MappingFiles {
    static let all: [(name: String, bytes: [UInt8])] = [
        ("keras3", PackageResources.keras3_json),
        ("timm_inception_v3", PackageResources.timm_inception_v3_json),
        ("timm_legacy_xception", PackageResources.timm_legacy_xception_json),
        ("torchvision_resnet50", PackageResources.torchvision_resnet50_json),
        ("torchvision_vgg19", PackageResources.torchvision_vgg19_json),
    ]
}
