//! The generator's name pool, shaped like the names of England's children: a few hundred
//! given names per sex and about 2,500 family names, drawn with a skewed (Zipf-Mandelbrot)
//! frequency so that common names stay common and most names are rare.
//!
//! Why: with a handful of names drawn uniformly (the earlier pool had 20 given names per
//! sex and 60 family names), two children sharing given name, family name and date of
//! birth were about a hundred times commoner than among real children (one child in ten
//! had such a namesake at 1,000,000 children), which is not the population a node's
//! matcher faces. The shape here: the most common given name is about 1.3 % of its sex,
//! the ten most common about 11 %, the hundred most common about 58 % (England and Wales
//! birth registrations, roughly: 1–1.5 %, 10 % and 50 %, the rest spread over thousands
//! of names); the most common family name about 1.1 %, the hundred most common about 31 %
//! (England, roughly: 1.2 % and 22 %). So namesakes are still somewhat commoner here than in
//! England, on the side that makes matching harder. Figures: [`namesakes_per_million`]
//! and `docs/benchmarks.md`.
//!
//! The pool keeps the spellings that make matching hard: apostrophes (`O'Neill`,
//! `D'Arcy`), hyphens and double barrels (`Lily-Mae`, `Wood-Allen`), particles
//! (`Da Silva`, `Van der Berg`), accents and letters outside ASCII (`Zoë`, `Siân`,
//! `Wiśniewski`, `Yılmaz`), names with short forms the matcher knows (`Oliver`,
//! `Samuel`, `Eleanor`, `Muhammad`) and close but different names given in their own
//! right (`Lily`/`Lilly`, `Isabel`/`Isabelle`, `Hanna`/`Hannah`). The names are common
//! names, not anyone's name: no pairing of them refers to a real person.

use schemas::Sex;
use std::sync::OnceLock;

/// Girls' given names, most common first.
pub const GIVEN_F: &[&str] = &[
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Freya",
    "Sophia",
    "Grace",
    "Willow",
    "Florence",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Rosie",
    "Elsie",
    "Charlotte",
    "Evelyn",
    "Sienna",
    "Sofia",
    "Daisy",
    "Phoebe",
    "Sophie",
    "Alice",
    "Harper",
    "Matilda",
    "Ruby",
    "Emilia",
    "Maya",
    "Millie",
    "Isabelle",
    "Ellie",
    "Esme",
    "Ayla",
    "Eliza",
    "Luna",
    "Aria",
    "Hallie",
    "Lucy",
    "Ada",
    "Arabella",
    "Maisie",
    "Erin",
    "Bonnie",
    "Jessica",
    "Thea",
    "Imogen",
    "Harriet",
    "Hannah",
    "Chloe",
    "Aisha",
    "Zara",
    "Fatima",
    "Maryam",
    "Layla",
    "Lola",
    "Mila",
    "Molly",
    "Eva",
    "Scarlett",
    "Isabel",
    "Penelope",
    "Violet",
    "Georgia",
    "Lottie",
    "Orla",
    "Robyn",
    "Holly",
    "Jasmine",
    "Amber",
    "Megan",
    "Abigail",
    "Lacey",
    "Summer",
    "Katie",
    "Lexi",
    "Lara",
    "Nancy",
    "Aurora",
    "Iris",
    "Beatrice",
    "Clara",
    "Delilah",
    "Edith",
    "Eleanor",
    "Elizabeth",
    "Emma",
    "Gracie",
    "Heidi",
    "Niamh",
    "Priya",
    "Leah",
    "Zoë",
    "Anna",
    "Bella",
    "Darcy",
    "Eloise",
    "Elena",
    "Francesca",
    "Gabriella",
    "Hope",
    "India",
    "Jade",
    "Josephine",
    "Julia",
    "Kayla",
    "Lauren",
    "Lydia",
    "Madison",
    "Maria",
    "Martha",
    "Mabel",
    "Naomi",
    "Nell",
    "Paige",
    "Rebecca",
    "Rose",
    "Sara",
    "Sarah",
    "Sadie",
    "Skye",
    "Tilly",
    "Victoria",
    "Wren",
    "Ayesha",
    "Amira",
    "Khadija",
    "Zainab",
    "Hafsa",
    "Alisha",
    "Anaya",
    "Aaliyah",
    "Inaya",
    "Safa",
    "Sana",
    "Noor",
    "Mariam",
    "Hana",
    "Halima",
    "Ruqayyah",
    "Sumaya",
    "Yasmin",
    "Aleena",
    "Amaya",
    "Ananya",
    "Diya",
    "Isha",
    "Kavya",
    "Simran",
    "Harleen",
    "Jasleen",
    "Amara",
    "Chiamaka",
    "Adaeze",
    "Ifeoma",
    "Abena",
    "Esi",
    "Zuzanna",
    "Zofia",
    "Maja",
    "Natalia",
    "Oliwia",
    "Lena",
    "Hanna",
    "Amelie",
    "Renée",
    "Anaïs",
    "Inès",
    "Noémie",
    "Élodie",
    "Siân",
    "Seren",
    "Ffion",
    "Cerys",
    "Carys",
    "Bethan",
    "Caitlin",
    "Aoife",
    "Saoirse",
    "Róisín",
    "Ciara",
    "Clodagh",
    "Nia",
    "Eira",
    "Alys",
    "Cara",
    "Keira",
    "Demi",
    "Leila",
    "Lila",
    "Aliyah",
    "Alana",
    "Elsa",
    "Frankie",
    "Harley",
    "Hollie",
    "Jorgie",
    "Kacey",
    "Lyla",
    "Macy",
    "Marnie",
    "Mya",
    "Nevaeh",
    "Peyton",
    "Remi",
    "Romy",
    "Thalia",
    "Valentina",
    "Vivienne",
    "Winter",
    "Amina",
    "Eshal",
    "Hiba",
    "Iqra",
    "Mehak",
    "Neha",
    "Riya",
    "Shreya",
    "Tara",
    "Aditi",
    "Anika",
    "Gurleen",
    "Jannat",
    "Rania",
    "Sabrina",
    "Zahra",
    "Zoya",
    "Ebony",
    "Precious",
    "Blessing",
    "Favour",
    "Temi",
    "Lily-Mae",
    "Ella-Rose",
    "Ellie-Mae",
    "Mary-Jane",
    "Katherine",
    "Catherine",
    "Margaret",
    "Alexandra",
    "Natalie",
    "Frances",
    "Samantha",
    "Jennifer",
    "Danielle",
    "Christina",
    "Olive",
    "Nova",
    "Pippa",
    "Quinn",
    "Rhianna",
    "Rosa",
    "Serena",
    "Tia",
    "Hazel",
    "Maddison",
    "Mollie",
    "Lilly",
    "Ivy-Rose",
    "Aurelia",
    "Beatrix",
    "Cleo",
    "Dolly",
    "Edie",
    "Ellis",
    "Felicity",
    "Ophelia",
    "Primrose",
    "Rowan",
    "Sylvie",
    "Talia",
    "Ottilie",
    "Juliet",
    "Annabelle",
    "Bethany",
    "Courtney",
    "Shannon",
    "Chelsea",
    "Jodie",
    "Kelsey",
    "Leanne",
    "Naima",
    "Rukhsana",
    "Tasnim",
    "Nusrat",
    "Mehreen",
    "Afsana",
    "Sadia",
    "Sumaiya",
    "Ishrat",
    "Tahmina",
    "Farzana",
    "Jessica-Rose",
    "Dáire",
    "Siobhán",
    "Zoë-Mai",
];

/// Boys' given names, most common first.
pub const GIVEN_M: &[&str] = &[
    "Muhammad",
    "Noah",
    "Oliver",
    "Leo",
    "George",
    "Arthur",
    "Oscar",
    "Theodore",
    "Freddie",
    "Harry",
    "Archie",
    "Jack",
    "Henry",
    "Charlie",
    "Finley",
    "Alfie",
    "Jacob",
    "Thomas",
    "Isaac",
    "Joshua",
    "Lucas",
    "Teddy",
    "Luca",
    "William",
    "Arlo",
    "James",
    "Edward",
    "Tommy",
    "Albie",
    "Ezra",
    "Reggie",
    "Louie",
    "Hudson",
    "Rory",
    "Jude",
    "Max",
    "Elijah",
    "Mason",
    "Ethan",
    "Sonny",
    "Harrison",
    "Hunter",
    "Jaxon",
    "Louis",
    "Toby",
    "Oakley",
    "Albert",
    "Samuel",
    "Joseph",
    "Daniel",
    "Alexander",
    "Benjamin",
    "Adam",
    "Ronnie",
    "Zachary",
    "Dylan",
    "Harvey",
    "Logan",
    "Ralph",
    "Reuben",
    "Stanley",
    "Ibrahim",
    "Yusuf",
    "Ali",
    "Musa",
    "Omar",
    "Ayaan",
    "Zayn",
    "Hamza",
    "Idris",
    "Ismail",
    "Rayyan",
    "Zakariya",
    "Abdullah",
    "Ahmed",
    "Hassan",
    "Hussain",
    "Bilal",
    "Imran",
    "Ishaan",
    "Aarav",
    "Arjun",
    "Vihaan",
    "Rohan",
    "Dev",
    "Krish",
    "Kai",
    "Caleb",
    "Rhys",
    "Tomasz",
    "Jakub",
    "Szymon",
    "Kacper",
    "Filip",
    "Mateusz",
    "Antoni",
    "Aleksander",
    "Wiktor",
    "Dawid",
    "Michał",
    "Luka",
    "Matei",
    "Andrei",
    "Ioan",
    "Darius",
    "Chidi",
    "Chinedu",
    "Obinna",
    "Tobi",
    "Femi",
    "Kwame",
    "Kofi",
    "Kwabena",
    "Emeka",
    "Tariq",
    "Malik",
    "Jayden",
    "Tyler",
    "Kayden",
    "Riley",
    "Connor",
    "Callum",
    "Cameron",
    "Kyle",
    "Liam",
    "Ryan",
    "Aaron",
    "Nathan",
    "Owen",
    "Evan",
    "Ieuan",
    "Dafydd",
    "Gethin",
    "Osian",
    "Cian",
    "Oisín",
    "Seán",
    "Ciarán",
    "Pádraig",
    "Eoin",
    "Declan",
    "Finn",
    "Fionn",
    "Lewis",
    "Jamie",
    "Matthew",
    "Michael",
    "Christopher",
    "Nicholas",
    "Anthony",
    "Patrick",
    "Frederick",
    "Francis",
    "Gabriel",
    "Nathaniel",
    "Maximilian",
    "Maxwell",
    "Robert",
    "Richard",
    "Charles",
    "Stephen",
    "John",
    "Jonathan",
    "Jake",
    "Bobby",
    "Frankie",
    "Ollie",
    "Eli",
    "Elliot",
    "Felix",
    "Jasper",
    "Hugo",
    "Otis",
    "Rupert",
    "Miles",
    "Milo",
    "Jesse",
    "Kian",
    "Lenny",
    "Alfred",
    "Ezekiel",
    "Jenson",
    "Tristan",
    "Austin",
    "Brody",
    "Bradley",
    "Blake",
    "Carter",
    "Cody",
    "Dexter",
    "Ashton",
    "Aiden",
    "Jay",
    "Jordan",
    "Josiah",
    "Kobe",
    "Leon",
    "Levi",
    "Marcus",
    "Mohammed",
    "Mustafa",
    "Niall",
    "Otto",
    "Preston",
    "Ravi",
    "Rio",
    "Roman",
    "Ryder",
    "Sebastian",
    "Shay",
    "Spencer",
    "Theo",
    "Tobias",
    "Travis",
    "Victor",
    "Vincent",
    "Wilfred",
    "Xavier",
    "Yahya",
    "Yaseen",
    "Zain",
    "José",
    "André",
    "Joël",
    "Jean-Luc",
    "Billy-Joe",
    "Tommy-Lee",
    "Alfie-James",
    "Harley",
    "Reece",
    "Corey",
    "Bailey",
    "Ellis",
    "Morgan",
    "Taylor",
    "Joe",
    "Sam",
    "Ben",
    "Alex",
    "Harris",
    "Duncan",
    "Hamish",
    "Angus",
    "Fraser",
    "Ewan",
    "Struan",
    "Abdul",
    "Abdirahman",
    "Mohamed",
    "Yousef",
    "Aadam",
    "Haris",
    "Umar",
    "Usman",
    "Zubair",
    "Sami",
    "Amir",
    "Arham",
    "Ayan",
    "Rehan",
    "Zayan",
    "Aryan",
    "Kabir",
    "Rudra",
    "Advik",
    "Reyansh",
    "Gurveer",
    "Harjot",
    "Jasraj",
    "Manveer",
    "Sukhdeep",
    "Oluwaseun",
    "Ayodele",
    "Babajide",
    "Kelechi",
    "Nnamdi",
    "Ikenna",
    "Kojo",
    "Yaw",
    "Oskar",
    "Mikołaj",
    "Jan",
    "Stanisław",
    "Bartosz",
    "Nikola",
    "Stefan",
    "Mihai",
    "Bogdan",
    "Ionuț",
    "Răzvan",
    "D'Arcy",
    "Dáithí",
];

/// Family names found in England, most common first: the head of the pool.
pub const FAMILY_HEAD: &[&str] = &[
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wilkinson",
    "Foster",
    "Chapman",
    "Powell",
    "Webb",
    "Rogers",
    "Gray",
    "Mason",
    "Ali",
    "Hunt",
    "Hussain",
    "Campbell",
    "Matthews",
    "Owen",
    "Palmer",
    "Holmes",
    "Mills",
    "Barnes",
    "Knight",
    "Lloyd",
    "Butler",
    "Russell",
    "Barker",
    "Fisher",
    "Stevens",
    "Jenkins",
    "Murray",
    "Dixon",
    "Harvey",
    "Graham",
    "Pearson",
    "Ahmed",
    "Fletcher",
    "Walsh",
    "Kaur",
    "Gibson",
    "Howard",
    "Andrews",
    "Stewart",
    "Elliott",
    "Reynolds",
    "Saunders",
    "Payne",
    "Fox",
    "Ford",
    "Pearce",
    "Day",
    "Brooks",
    "West",
    "Lawrence",
    "Cole",
    "Atkinson",
    "Bradley",
    "Spencer",
    "Gill",
    "Dawson",
    "Ball",
    "Burton",
    "O'Brien",
    "Watts",
    "Rose",
    "Booth",
    "Perry",
    "Ryan",
    "Grant",
    "Wells",
    "Armstrong",
    "Francis",
    "Rees",
    "Hayes",
    "Hart",
    "Hudson",
    "Newman",
    "Barrett",
    "Webster",
    "Hunter",
    "Gregory",
    "Carr",
    "Lowe",
    "Page",
    "Marsh",
    "Riley",
    "Dunn",
    "Woods",
    "Parsons",
    "Berry",
    "Stone",
    "Reid",
    "Holland",
    "Hawkins",
    "Harding",
    "Porter",
    "Robertson",
    "Newton",
    "Oliver",
    "Reed",
    "Kennedy",
    "Williamson",
    "Bird",
    "Gardner",
    "Shah",
    "Dean",
    "Lane",
    "Cooke",
    "Bates",
    "Henderson",
    "Parry",
    "Burgess",
    "Bishop",
    "Walton",
    "Burns",
    "Nicholson",
    "Shepherd",
    "Ross",
    "Cross",
    "Long",
    "Freeman",
    "Warren",
    "Nicholls",
    "Hamilton",
    "Byrne",
    "Sutton",
    "McDonald",
    "Yates",
    "Hodgson",
    "Robson",
    "Curtis",
    "Hopkins",
    "O'Connor",
    "Harper",
    "Coleman",
    "Watkins",
    "Moss",
    "McCarthy",
    "Chambers",
    "O'Neill",
    "Griffin",
    "Sharp",
    "Hardy",
    "Wheeler",
    "Potter",
    "Osborne",
    "Johnston",
    "Gordon",
    "Doyle",
    "Wallace",
    "George",
    "Jordan",
    "Hutchinson",
    "Rahman",
    "Miah",
    "Uddin",
    "Islam",
    "Akhtar",
    "Mahmood",
    "Iqbal",
    "Hussein",
    "Aziz",
    "Malik",
    "Chaudhry",
    "Mirza",
    "Qureshi",
    "Sheikh",
    "Bibi",
    "Choudhury",
    "Sharma",
    "Kumar",
    "Mistry",
    "Joshi",
    "Chauhan",
    "Parmar",
    "Solanki",
    "Sandhu",
    "Sidhu",
    "Dhillon",
    "Grewal",
    "Bains",
    "Johal",
    "Okafor",
    "Okeke",
    "Adeyemi",
    "Adebayo",
    "Oladipo",
    "Mensah",
    "Owusu",
    "Boateng",
    "Asante",
    "Osei",
    "Nwosu",
    "Eze",
    "Chukwu",
    "Abubakar",
    "Mohamud",
    "Abdi",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Wójcik",
    "Kamiński",
    "Lewandowski",
    "Zieliński",
    "Popescu",
    "Ionescu",
    "Popa",
    "Dumitru",
    "Stan",
    "Kaya",
    "Yılmaz",
    "Demir",
    "Öztürk",
    "Şahin",
    "Çelik",
    "Da Silva",
    "Ferreira",
    "Santos",
    "Pereira",
    "Gonçalves",
    "Rodrigues",
    "Fernandes",
    "Costa",
    "D'Souza",
    "D'Costa",
    "Gomes",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Nguyen",
    "Tran",
    "Pham",
    "Le",
    "Kim",
    "Park",
    "Murray-Hill",
    "Wood-Allen",
    "Smith-Jones",
    "Taylor-Brown",
    "Fox-Lewis",
    "Ashby-Reid",
    "Lloyd-Williams",
    "Price-Evans",
    "Hughes-Davies",
    "Owen-Jones",
    "Martin-Clarke",
    "O'Sullivan",
    "O'Reilly",
    "O'Donnell",
    "O'Leary",
    "O'Hara",
    "McLaughlin",
    "MacDonald",
    "McKenzie",
    "McGregor",
    "Fraser",
    "Duncan",
    "Ferguson",
    "Kerr",
    "Quinn",
    "Gallagher",
    "Brennan",
    "Flanagan",
    "Fitzgerald",
    "Doherty",
    "Devlin",
    "Kavanagh",
    "Müller",
    "Schmidt",
    "Schneider",
    "Lefèvre",
    "Dubois",
    "Moreau",
    "García",
    "Martínez",
    "López",
    "Hernández",
    "González",
    "Pérez",
    "Nuñez",
    "Rossi",
    "Russo",
    "Bianchi",
    "Esposito",
    "Romano",
    "Papadopoulos",
    "Georgiou",
    "Christodoulou",
    "Hassan",
    "Farah",
    "Warsame",
    "Yusuf",
    "Jama",
    "Van der Berg",
    "De Vries",
    "Janssen",
    "Kovačević",
    "Horvat",
    "Novák",
    "Dvořák",
    "Petrov",
    "Ivanova",
    "Kuznetsova",
];

/// First and second halves of the English place-name surnames (`Ashworth`, `Thornbury`)
/// that make the pool's long tail.
const TAIL_STARTS: &[&str] = &[
    "Ash", "Black", "Brad", "Brom", "Cal", "Chad", "Clif", "Crom", "Dar", "Den", "Dun", "Elm",
    "Fair", "Farn", "Fen", "Gold", "Green", "Ham", "Hart", "Hay", "Hol", "Horn", "Kings", "Lang",
    "Lind", "Marl", "Mid", "Mor", "Nor", "Oak", "Pem", "Pen", "Rad", "Red", "Roth", "Rush", "Sal",
    "Sand", "Shel", "Stan", "Stock", "Sut", "Thorn", "Wad", "Walm", "Wel", "West", "Whit", "Wick",
    "Win", "Wool", "Wor", "Yar", "Bram", "Brock",
];

const TAIL_ENDS: &[&str] = &[
    "ford", "ley", "ton", "worth", "wood", "field", "ham", "by", "well", "more", "combe", "den",
    "stead", "bridge", "hurst", "shaw", "land", "brook", "gate", "thorpe", "wick", "cliffe",
    "dale", "borough", "bury", "croft", "hill", "lock", "ridge", "ward", "win", "stone", "thwaite",
    "hall", "sey", "cott", "mer", "ling", "low",
];

/// Zipf-Mandelbrot shape of the given names: the name of rank k (from 1) is drawn with
/// weight 1 / (k + offset)^exponent.
const GIVEN_SHAPE: (f64, f64) = (20.0, 0.8);
/// The same for family names (head first, then the tail).
const FAMILY_SHAPE: (f64, f64) = (8.0, 0.8);

/// Names in rank order with the cumulative share of each, for drawing by one uniform
/// number.
pub struct Ranked {
    names: Vec<&'static str>,
    cumulative: Vec<f64>,
}

impl Ranked {
    fn new(names: Vec<&'static str>, (offset, exponent): (f64, f64)) -> Self {
        let weights: Vec<f64> = (1..=names.len())
            .map(|rank| (rank as f64 + offset).powf(-exponent))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                running += w / total;
                running
            })
            .collect();
        Self { names, cumulative }
    }

    /// The name whose share of the unit interval holds `u` (0 ≤ u < 1).
    pub fn draw(&self, u: f64) -> &'static str {
        let at = self.cumulative.partition_point(|c| *c <= u);
        self.names[at.min(self.names.len() - 1)]
    }

    /// Each name with its probability, in rank order.
    pub fn shares(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.names
            .iter()
            .zip(&self.cumulative)
            .scan(0.0, |prev, (name, c)| {
                let share = c - *prev;
                *prev = *c;
                Some((*name, share))
            })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Girls' given names with their shares.
pub fn given_f() -> &'static Ranked {
    static POOL: OnceLock<Ranked> = OnceLock::new();
    POOL.get_or_init(|| Ranked::new(GIVEN_F.to_vec(), GIVEN_SHAPE))
}

/// Boys' given names with their shares.
pub fn given_m() -> &'static Ranked {
    static POOL: OnceLock<Ranked> = OnceLock::new();
    POOL.get_or_init(|| Ranked::new(GIVEN_M.to_vec(), GIVEN_SHAPE))
}

/// The given names of one sex.
pub fn given(sex: Sex) -> &'static Ranked {
    match sex {
        Sex::Female => given_f(),
        _ => given_m(),
    }
}

/// Family names with their shares: [`FAMILY_HEAD`], then the place-name tail.
pub fn family() -> &'static Ranked {
    static POOL: OnceLock<Ranked> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut names: Vec<&'static str> = FAMILY_HEAD.to_vec();
        names.extend(family_tail().iter().map(String::as_str));
        Ranked::new(names, FAMILY_SHAPE)
    })
}

/// Every first half joined to every second half, skipping those already in the head
/// (`Bradley`, `Stanley`), in an order that does not follow the alphabet, so that rarity
/// does not go with the first letter.
fn family_tail() -> &'static Vec<String> {
    static TAIL: OnceLock<Vec<String>> = OnceLock::new();
    TAIL.get_or_init(|| {
        let built: Vec<String> = TAIL_STARTS
            .iter()
            .flat_map(|start| TAIL_ENDS.iter().map(move |end| format!("{start}{end}")))
            .filter(|name| !FAMILY_HEAD.contains(&name.as_str()))
            .collect();
        // 7919 is prime and does not divide the count, so this visits every name once.
        (0..built.len())
            .map(|i| built[(i * 7919) % built.len()].clone())
            .collect()
    })
}

/// Days in the generator's range of dates of birth (1 September 2010 to 30 August 2021,
/// drawn evenly).
pub const BIRTH_DAYS: f64 = 4017.0;

/// Expected children per million, in a population of `children` drawn from
/// `given_f` / `given_m` (half each) and `family` with dates of birth spread evenly over
/// `days`, who share sex, given name, family name and date of birth with at least one
/// other child.
pub fn namesakes_per_million(
    given_f: &[f64],
    given_m: &[f64],
    family: &[f64],
    children: f64,
    days: f64,
) -> f64 {
    let mut share = 0.0;
    for given in [given_f, given_m] {
        for g in given {
            for f in family {
                let others = children / 2.0 * g * f / days;
                share += 0.5 * g * f * (1.0 - (-others).exp());
            }
        }
    }
    share * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::nickname_names;
    use matching::normalise::NormalName;
    use std::collections::HashSet;

    fn shares(pool: &Ranked) -> Vec<f64> {
        pool.shares().map(|(_, s)| s).collect()
    }

    #[test]
    fn pool_is_england_sized_and_skewed() {
        assert!(given_f().len() >= 250 && given_m().len() >= 250);
        assert!(family().len() >= 2000);
        for pool in [given_f(), given_m(), family()] {
            let s = shares(pool);
            assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            // Common names stay common, and no name dominates.
            assert!(s.windows(2).all(|w| w[0] >= w[1]));
            assert!(s[0] > 0.009 && s[0] < 0.015, "top share {}", s[0]);
            let top100: f64 = s[..100].iter().sum();
            assert!((0.25..0.65).contains(&top100), "top 100 share {top100}");
        }
    }

    #[test]
    fn names_are_distinct_once_normalised() {
        for pool in [given_f(), given_m(), family()] {
            let mut seen = HashSet::new();
            for (name, _) in pool.shares() {
                assert!(seen.insert(NormalName::new(name).joined), "{name} twice");
            }
        }
    }

    #[test]
    fn draws_follow_the_shares() {
        let pool = given_f();
        assert_eq!(pool.draw(0.0), GIVEN_F[0]);
        assert_eq!(pool.draw(0.999_999_999), *GIVEN_F.last().unwrap_or(&""));
        let first = shares(pool)[0];
        assert_eq!(pool.draw(first * 0.99), GIVEN_F[0]);
        assert_eq!(pool.draw(first * 1.01), GIVEN_F[1]);
    }

    #[test]
    fn pool_keeps_the_hard_spellings() {
        let all: Vec<&str> = [given_f(), given_m(), family()]
            .iter()
            .flat_map(|p| p.shares().map(|(n, _)| n))
            .collect();
        let has = |f: &dyn Fn(&str) -> bool| all.iter().filter(|n| f(n)).count();
        assert!(has(&|n| n.contains('\'')) >= 5, "apostrophes");
        assert!(has(&|n| n.contains('-')) >= 10, "hyphens");
        assert!(has(&|n| n.contains(' ')) >= 3, "particles");
        assert!(has(&|n| !n.is_ascii()) >= 20, "accents");
        // Every name the benchmark drifts to a short form is in the pool.
        for name in nickname_names() {
            assert!(all.contains(&name), "{name}");
        }
    }

    /// Namesakes (same sex, given name, family name and date of birth) per million
    /// children, before (20 + 20 given names, 60 family names, uniform) and now.
    #[test]
    fn namesakes_are_rare_as_in_a_real_population() {
        let uniform = |n: usize| vec![1.0 / n as f64; n];
        let before =
            namesakes_per_million(&uniform(20), &uniform(20), &uniform(60), 1e6, BIRTH_DAYS);
        let (f, m, fam) = (shares(given_f()), shares(given_m()), shares(family()));
        let now_1m = namesakes_per_million(&f, &m, &fam, 1e6, BIRTH_DAYS);
        let now_10k = namesakes_per_million(&f, &m, &fam, 1e4, BIRTH_DAYS);
        println!(
            "namesakes per million children: before {before:.0} at 1,000,000; \
             now {now_1m:.0} at 1,000,000, {now_10k:.1} at 10,000"
        );
        assert!(before > 90_000.0);
        assert!(now_1m < 2_000.0, "{now_1m}");
    }
}
