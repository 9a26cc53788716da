"""UMLS semantic types and groups, and the MeSH tree branches that stand in for them.

The open knowledge base has no UMLS semantic types, but augmenters need them to keep a
replacement within the entity's label. MeSH tree numbers say where a descriptor sits
(``C04`` Neoplasms, ``D02`` Organic Chemicals), so a branch-to-type table gives each descriptor
UMLS-style types. The table is coarse by design: one type per branch, refined only where a
sub-branch differs in kind (``C23.888`` Signs and Symptoms, ``F03`` Mental Disorders). Groups
follow NLM's SemGroups (McCray et al. 2001), so the same labels (``DISO``, ``CHEM``, ...) come
out of the open KB and of a real UMLS release.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable

from hilgen.kb.base import Concept

# NLM semantic groups: TUI -> (semantic type name, group). Types retired from UMLS (T118 etc.)
# are kept so older releases still get a group.
SEMANTIC_TYPES: dict[str, tuple[str, str]] = {
    "T051": ("Event", "ACTI"),
    "T052": ("Activity", "ACTI"),
    "T053": ("Behavior", "ACTI"),
    "T054": ("Social Behavior", "ACTI"),
    "T055": ("Individual Behavior", "ACTI"),
    "T056": ("Daily or Recreational Activity", "ACTI"),
    "T057": ("Occupational Activity", "ACTI"),
    "T064": ("Governmental or Regulatory Activity", "ACTI"),
    "T066": ("Machine Activity", "ACTI"),
    "T017": ("Anatomical Structure", "ANAT"),
    "T018": ("Embryonic Structure", "ANAT"),
    "T021": ("Fully Formed Anatomical Structure", "ANAT"),
    "T022": ("Body System", "ANAT"),
    "T023": ("Body Part, Organ, or Organ Component", "ANAT"),
    "T024": ("Tissue", "ANAT"),
    "T025": ("Cell", "ANAT"),
    "T026": ("Cell Component", "ANAT"),
    "T029": ("Body Location or Region", "ANAT"),
    "T030": ("Body Space or Junction", "ANAT"),
    "T031": ("Body Substance", "ANAT"),
    "T103": ("Chemical", "CHEM"),
    "T104": ("Chemical Viewed Structurally", "CHEM"),
    "T109": ("Organic Chemical", "CHEM"),
    "T114": ("Nucleic Acid, Nucleoside, or Nucleotide", "CHEM"),
    "T116": ("Amino Acid, Peptide, or Protein", "CHEM"),
    "T118": ("Carbohydrate", "CHEM"),
    "T119": ("Lipid", "CHEM"),
    "T120": ("Chemical Viewed Functionally", "CHEM"),
    "T121": ("Pharmacologic Substance", "CHEM"),
    "T122": ("Biomedical or Dental Material", "CHEM"),
    "T123": ("Biologically Active Substance", "CHEM"),
    "T124": ("Neuroreactive Substance or Biogenic Amine", "CHEM"),
    "T125": ("Hormone", "CHEM"),
    "T126": ("Enzyme", "CHEM"),
    "T127": ("Vitamin", "CHEM"),
    "T129": ("Immunologic Factor", "CHEM"),
    "T130": ("Indicator, Reagent, or Diagnostic Aid", "CHEM"),
    "T131": ("Hazardous or Poisonous Substance", "CHEM"),
    "T192": ("Receptor", "CHEM"),
    "T195": ("Antibiotic", "CHEM"),
    "T196": ("Element, Ion, or Isotope", "CHEM"),
    "T197": ("Inorganic Chemical", "CHEM"),
    "T200": ("Clinical Drug", "CHEM"),
    "T077": ("Conceptual Entity", "CONC"),
    "T078": ("Idea or Concept", "CONC"),
    "T079": ("Temporal Concept", "CONC"),
    "T080": ("Qualitative Concept", "CONC"),
    "T081": ("Quantitative Concept", "CONC"),
    "T082": ("Spatial Concept", "CONC"),
    "T089": ("Regulation or Law", "CONC"),
    "T102": ("Group Attribute", "CONC"),
    "T169": ("Functional Concept", "CONC"),
    "T170": ("Intellectual Product", "CONC"),
    "T171": ("Language", "CONC"),
    "T185": ("Classification", "CONC"),
    "T074": ("Medical Device", "DEVI"),
    "T075": ("Research Device", "DEVI"),
    "T203": ("Drug Delivery Device", "DEVI"),
    "T019": ("Congenital Abnormality", "DISO"),
    "T020": ("Acquired Abnormality", "DISO"),
    "T033": ("Finding", "DISO"),
    "T037": ("Injury or Poisoning", "DISO"),
    "T046": ("Pathologic Function", "DISO"),
    "T047": ("Disease or Syndrome", "DISO"),
    "T048": ("Mental or Behavioral Dysfunction", "DISO"),
    "T049": ("Cell or Molecular Dysfunction", "DISO"),
    "T050": ("Experimental Model of Disease", "DISO"),
    "T184": ("Sign or Symptom", "DISO"),
    "T190": ("Anatomical Abnormality", "DISO"),
    "T191": ("Neoplastic Process", "DISO"),
    "T028": ("Gene or Genome", "GENE"),
    "T085": ("Molecular Sequence", "GENE"),
    "T086": ("Nucleotide Sequence", "GENE"),
    "T087": ("Amino Acid Sequence", "GENE"),
    "T088": ("Carbohydrate Sequence", "GENE"),
    "T083": ("Geographic Area", "GEOG"),
    "T001": ("Organism", "LIVB"),
    "T002": ("Plant", "LIVB"),
    "T004": ("Fungus", "LIVB"),
    "T005": ("Virus", "LIVB"),
    "T007": ("Bacterium", "LIVB"),
    "T008": ("Animal", "LIVB"),
    "T010": ("Vertebrate", "LIVB"),
    "T011": ("Amphibian", "LIVB"),
    "T012": ("Bird", "LIVB"),
    "T013": ("Fish", "LIVB"),
    "T014": ("Reptile", "LIVB"),
    "T015": ("Mammal", "LIVB"),
    "T016": ("Human", "LIVB"),
    "T096": ("Group", "LIVB"),
    "T097": ("Professional or Occupational Group", "LIVB"),
    "T098": ("Population Group", "LIVB"),
    "T099": ("Family Group", "LIVB"),
    "T100": ("Age Group", "LIVB"),
    "T101": ("Patient or Disabled Group", "LIVB"),
    "T194": ("Archaeon", "LIVB"),
    "T204": ("Eukaryote", "LIVB"),
    "T071": ("Entity", "OBJC"),
    "T072": ("Physical Object", "OBJC"),
    "T073": ("Manufactured Object", "OBJC"),
    "T167": ("Substance", "OBJC"),
    "T168": ("Food", "OBJC"),
    "T090": ("Occupation or Discipline", "OCCU"),
    "T091": ("Biomedical Occupation or Discipline", "OCCU"),
    "T092": ("Organization", "ORGA"),
    "T093": ("Health Care Related Organization", "ORGA"),
    "T094": ("Professional Society", "ORGA"),
    "T095": ("Self-help or Relief Organization", "ORGA"),
    "T034": ("Laboratory or Test Result", "PHEN"),
    "T038": ("Biologic Function", "PHEN"),
    "T067": ("Phenomenon or Process", "PHEN"),
    "T068": ("Human-caused Phenomenon or Process", "PHEN"),
    "T069": ("Environmental Effect of Humans", "PHEN"),
    "T070": ("Natural Phenomenon or Process", "PHEN"),
    "T032": ("Organism Attribute", "PHYS"),
    "T039": ("Physiologic Function", "PHYS"),
    "T040": ("Organism Function", "PHYS"),
    "T041": ("Mental Process", "PHYS"),
    "T042": ("Organ or Tissue Function", "PHYS"),
    "T043": ("Cell Function", "PHYS"),
    "T044": ("Molecular Function", "PHYS"),
    "T045": ("Genetic Function", "PHYS"),
    "T201": ("Clinical Attribute", "PHYS"),
    "T058": ("Health Care Activity", "PROC"),
    "T059": ("Laboratory Procedure", "PROC"),
    "T060": ("Diagnostic Procedure", "PROC"),
    "T061": ("Therapeutic or Preventive Procedure", "PROC"),
    "T062": ("Research Activity", "PROC"),
    "T063": ("Molecular Biology Research Technique", "PROC"),
    "T065": ("Educational Activity", "PROC"),
}

# Which group wins when a concept's types fall in several (e.g. a MeSH descriptor filed under
# both a disease and a chemical branch): the groups NER corpora annotate come first.
GROUP_PRIORITY: tuple[str, ...] = (
    "DISO", "CHEM", "GENE", "ANAT", "LIVB", "PROC", "DEVI", "PHYS", "PHEN", "ACTI", "OBJC",
    "OCCU", "ORGA", "GEOG", "CONC",
)  # fmt: skip

# MeSH tree-number prefix -> TUI. The longest matching prefix wins.
MESH_BRANCH_TYPES: dict[str, str] = {
    "A": "T023",  # Anatomy: body parts and organs unless refined below
    "A01": "T029",  # Body Regions
    "A10": "T024",  # Tissues
    "A11": "T025",  # Cells
    "A11.284": "T026",  # Cellular Structures
    "A12": "T031",  # Fluids and Secretions
    "A15": "T022",  # Hemic and Immune Systems
    "A16": "T018",  # Embryonic Structures
    "B": "T001",  # Organisms
    "B01": "T204",  # Eukaryota
    "B01.050.150.900.649.313.988.400.112.400.400": "T016",  # Humans
    "B02": "T194",  # Archaea
    "B03": "T007",  # Bacteria
    "B04": "T005",  # Viruses
    "C": "T047",  # Diseases
    "C04": "T191",  # Neoplasms
    "C10.597": "T184",  # Neurologic Manifestations
    "C16": "T019",  # Congenital, Hereditary, and Neonatal Diseases and Abnormalities
    "C21": "T037",  # Disorders of Environmental Origin
    "C23": "T046",  # Pathological Conditions, Signs and Symptoms
    "C23.888": "T184",  # Signs and Symptoms
    "C25": "T037",  # Chemically-Induced Disorders
    "C26": "T037",  # Wounds and Injuries
    "D": "T103",  # Chemicals and Drugs
    "D01": "T197",  # Inorganic Chemicals
    "D02": "T109",  # Organic Chemicals
    "D03": "T109",  # Heterocyclic Compounds
    "D04": "T109",  # Polycyclic Compounds
    "D05": "T109",  # Macromolecular Substances
    "D06": "T125",  # Hormones, Hormone Substitutes, and Hormone Antagonists
    "D08": "T126",  # Enzymes and Coenzymes
    "D09": "T109",  # Carbohydrates
    "D10": "T109",  # Lipids
    "D12": "T116",  # Amino Acids, Peptides, and Proteins
    "D13": "T114",  # Nucleic Acids, Nucleotides, and Nucleosides
    "D20": "T103",  # Complex Mixtures
    "D23": "T123",  # Biological Factors
    "D25": "T122",  # Biomedical and Dental Materials
    "D26": "T121",  # Pharmaceutical Preparations
    "D27": "T121",  # Chemical Actions and Uses
    "E": "T061",  # Analytical, Diagnostic and Therapeutic Techniques, and Equipment
    "E01": "T060",  # Diagnosis
    "E05": "T059",  # Investigative Techniques
    "E07": "T074",  # Equipment and Supplies
    "F": "T041",  # Psychiatry and Psychology
    "F01": "T053",  # Behavior and Behavior Mechanisms
    "F02": "T041",  # Psychological Phenomena
    "F03": "T048",  # Mental Disorders
    "F04": "T090",  # Behavioral Disciplines and Activities
    "G": "T039",  # Phenomena and Processes
    "G01": "T070",  # Physical Phenomena
    "G02": "T070",  # Chemical Phenomena
    "G03": "T044",  # Metabolism
    "G04": "T043",  # Cell Physiological Phenomena
    "G05": "T045",  # Genetic Phenomena
    "G05.360.340": "T028",  # Genome (Genes, Genes BRCA1, Genome Human...): Gene or Genome
    "G06": "T070",  # Microbiological Phenomena
    "G12": "T042",  # Immune System Phenomena
    "G16": "T038",  # Biological Phenomena
    "G17": "T081",  # Mathematical Concepts
    "H": "T091",  # Disciplines and Occupations
    "I": "T078",  # Anthropology, Education, Sociology, and Social Phenomena
    "I02": "T065",  # Education
    "I03": "T056",  # Human Activities
    "J": "T073",  # Technology, Industry, and Agriculture
    "J02": "T168",  # Food and Beverages
    "K": "T078",  # Humanities
    "L": "T170",  # Information Science
    "M": "T098",  # Named Groups
    "N": "T058",  # Health Care
    "N02": "T093",  # Health Care Facilities, Manpower, and Services
    "V": "T170",  # Publication Characteristics
    "Z": "T083",  # Geographicals
}


def group_of_type(tui: str) -> str:
    """The semantic group of a TUI, or "" for a type not in the table."""
    entry = SEMANTIC_TYPES.get(tui)
    return entry[1] if entry else ""


def type_of_tree_number(tree_number: str) -> str:
    """The TUI for a MeSH tree number by the longest matching branch prefix."""
    for cut in range(len(tree_number), 0, -1):
        prefix = tree_number[:cut]
        if prefix in MESH_BRANCH_TYPES and (cut == len(tree_number) or tree_number[cut] == "."):
            return MESH_BRANCH_TYPES[prefix]
        if cut == 1:
            return MESH_BRANCH_TYPES.get(prefix, "")
    return ""


def types_of_tree_numbers(tree_numbers: Iterable[str]) -> tuple[str, ...]:
    """The distinct TUIs of a descriptor's tree numbers, in the order first seen."""
    seen: dict[str, None] = {}
    for tree_number in tree_numbers:
        tui = type_of_tree_number(tree_number)
        if tui:
            seen.setdefault(tui, None)
    return tuple(seen)


def choose_group(tuis: Iterable[str]) -> str:
    """The one group for a concept: the most frequent among its types, ties by priority."""
    counts = Counter(group for tui in tuis if (group := group_of_type(tui)))
    if not counts:
        return ""
    return max(counts, key=lambda group: (counts[group], -GROUP_PRIORITY.index(group)))


_TUI = re.compile(r"T\d{3}")
SEMANTIC_GROUPS: frozenset[str] = frozenset(group for _, group in SEMANTIC_TYPES.values())


def is_semantic_type(name: str) -> bool:
    """A TUI (``T204``) rather than a group (``LIVB``): label scopes may hold either."""
    return bool(_TUI.fullmatch(name))


def concept_in_scope(concept: Concept, scope: Collection[str]) -> bool:
    """Whether a concept fits a label's scope: its group is listed, or one of its types is.

    A scope mixes groups and TUIs (``["DISO"]``, ``["T204", "T007"]``), so a species label
    can take organisms without LIVB's population and age groups.
    """
    return concept.semantic_group in scope or any(tui in scope for tui in concept.semantic_types)


def groups_of_scope(scope: Iterable[str]) -> list[str]:
    """The groups a scope touches: its groups, and the group of each of its types."""
    return list(dict.fromkeys(group_of_type(name) or name for name in scope))
